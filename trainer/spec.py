"""What `--backbone` and `--weights` name, parsed once into a typed object that travels down.

A spec is one registry name or an ensemble `a+b` (one model on the members' concatenated
pooled features); `--weights` is one value for every member or one per member joined by
commas. `all` is not a spec but a list of them (`run_specs`): the original project's three
backbones, one run each.

No Keras here: the command line checks a spec before any backend loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backbones import ALL, ENSEMBLE_SEPARATOR, ORIGINAL_BACKBONES, Backbone, get_backbone
from .errors import TrainerError


@dataclass(frozen=True)
class Member:
    """One backbone of a spec: its registry entry and the weights it starts from
    (`imagenet`, `none` or a file path, as given)."""

    backbone: Backbone
    weights: str

    @property
    def name(self) -> str:
        return self.backbone.name


@dataclass(frozen=True)
class Spec:
    """The backbones one run trains, in the order given (the order of the model's inputs)."""

    text: str
    members: tuple[Member, ...]

    @property
    def names(self) -> frozenset[str]:
        """What a recipe is keyed by: the set of members, so member order never matters."""
        return frozenset(m.name for m in self.members)

    @property
    def default_size(self) -> int:
        """The largest member's input size: every member sees the same pixels."""
        return max(m.backbone.input_size for m in self.members)

    def cuts(self, fine_tune_from: str | None, *, deep: bool) -> list[str]:
        """The layer each member is cut after: `fine_tune_from` names one layer per member,
        joined by commas like `--weights`; an empty item (or none given) keeps that member's
        default cut, which is its `deep_cut` when `deep` and it has one.

        Example:
            >>> parse_spec("mobilenet_v2+efficientnet_lite0").cuts("block_9_add,", deep=False)
            ['block_9_add', 'block10_add']
        """
        defaults = [(deep and m.backbone.deep_cut) or m.backbone.cut for m in self.members]
        if not fine_tune_from:
            return defaults
        values = [v.strip() for v in fine_tune_from.split(",")]
        if len(values) != len(self.members):
            raise TrainerError(
                "fine_tune_from names one layer per backbone, separated by commas. Received: "
                f"backbone={self.text!r}, fine_tune_from={fine_tune_from!r}"
            )
        return [v or default for v, default in zip(values, defaults, strict=True)]


def parse_spec(backbone: str, weights: str = "none") -> Spec:
    """`a+b` with weights `wa,wb` (or one value for all) -> Spec((a, wa), (b, wb)).

    Example:
        >>> [m.name for m in parse_spec("mobilenet_v2+efficientnet_lite0").members]
        ['mobilenet_v2', 'efficientnet_lite0']
    """
    names = _member_names(backbone)
    entries = [get_backbone(name) for name in names]
    if len(set(names)) < len(names):
        raise TrainerError(f"an ensemble names each backbone once. Received: backbone={backbone!r}")
    values = weights.split(",") if "," in weights else [weights] * len(names)
    if len(values) != len(names):
        raise TrainerError(
            "give one weights value, or one per backbone separated by commas. Received: "
            f"backbone={backbone!r}, weights={weights!r}"
        )
    members = tuple(Member(e, w.strip()) for e, w in zip(entries, values, strict=True))
    return Spec(backbone, members)


def _member_names(backbone: str) -> list[str]:
    # The one place a spec's text is split: a test counts the calls.
    return [name.strip() for name in backbone.split(ENSEMBLE_SEPARATOR)]


def run_specs(backbone: str, weights: str) -> list[Spec]:
    """What `train --backbone X` trains, one run per item, every item checked first:
    `all` is the three original backbones, anything else one spec."""
    texts = list(ORIGINAL_BACKBONES) if backbone == ALL else [backbone]
    return [parse_spec(text, weights) for text in texts]
