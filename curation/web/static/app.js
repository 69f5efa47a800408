// curate serve: selection, keys and decisions on any page with a grid of `.cell`s.
// Every write carries the session token (meta[name=token]); decisions and undo go through
// /api/decide and /api/undo, which call the same library functions as `curate review`.
"use strict";

(function () {
  const token = document.querySelector('meta[name="token"]').content;
  const statusLine = document.getElementById("status");
  const picker = document.getElementById("picker");
  const selected = new Set();
  let cursor = -1; // index into cells()
  let anchor = -1; // where a shift-click range starts
  const UNDO_KEY = "curate-serve-undo"; // this tab's decisions: [[review id, image id], ...] per batch

  const cells = () => Array.from(document.querySelectorAll(".grid .cell"));
  const idOf = (cell) => Number(cell.dataset.id);

  function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? "error" : "";
  }

  function paint() {
    const all = cells();
    all.forEach((cell, i) => {
      cell.classList.toggle("selected", selected.has(idOf(cell)));
      cell.classList.toggle("cursor", i === cursor);
    });
    const count = document.querySelector(".selcount");
    if (count) count.textContent = selected.size ? `${selected.size} selected` : "";
  }

  function moveCursor(index) {
    const all = cells();
    if (!all.length) return;
    cursor = Math.max(0, Math.min(all.length - 1, index));
    all[cursor].scrollIntoView({ block: "nearest" });
    paint();
  }

  function columns() {
    const all = cells();
    if (all.length < 2) return 1;
    const top = all[0].offsetTop;
    const n = all.findIndex((c) => c.offsetTop !== top);
    return n > 0 ? n : all.length;
  }

  function selectRange(from, to) {
    const all = cells();
    const [a, b] = from < to ? [from, to] : [to, from];
    for (let i = a; i <= b; i++) selected.add(idOf(all[i]));
  }

  // The images a key acts on: the selection, else the cell under the cursor.
  function targets() {
    if (selected.size) return cells().filter((c) => selected.has(idOf(c)));
    const all = cells();
    return cursor >= 0 && all[cursor] ? [all[cursor]] : [];
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-token": token },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function update(rows) {
    const byId = new Map(rows.map((r) => [r.id, r]));
    cells().forEach((cell) => {
      const row = byId.get(idOf(cell));
      if (!row) return;
      cell.className = cell.className.replace(/\bst-\S+/, `st-${row.status}`);
      cell.dataset.class = row.class;
      cell.querySelector(".cls").textContent = row.class;
      cell.querySelector(".st").textContent = row.status;
    });
  }

  function undoStack() {
    try {
      return JSON.parse(sessionStorage.getItem(UNDO_KEY) || "[]");
    } catch (e) {
      return [];
    }
  }

  function saveUndo(stack) {
    sessionStorage.setItem(UNDO_KEY, JSON.stringify(stack.slice(-200)));
  }

  async function decide(action, extra) {
    const chosen = targets();
    if (!chosen.length) {
      say("Nothing selected: click an image, or move to one with the arrow keys", true);
      return;
    }
    const last = cells().indexOf(chosen[chosen.length - 1]);
    try {
      const data = await post("/api/decide", { action, ids: chosen.map(idOf), ...extra });
      update(data.rows);
      const stack = undoStack();
      stack.push(data.reviews);
      saveUndo(stack);
      selected.clear();
      say(data.message);
      moveCursor(last + 1);
    } catch (err) {
      say(err.message, true);
    }
  }

  async function undo() {
    const stack = undoStack();
    const batch = stack.pop();
    if (!batch) {
      say("Nothing to undo in this tab", true);
      return;
    }
    try {
      const data = await post("/api/undo", { reviews: batch });
      saveUndo(stack);
      update(data.rows);
      say(data.message + (data.refused.length ? ": " + data.refused.join("; ") : ""));
      const first = cells().findIndex((c) => c.dataset.id === String(batch[0][1]));
      if (first >= 0) moveCursor(first);
    } catch (err) {
      say(err.message, true);
    }
  }

  // --- relabel: a dialog listing the classes, filtered as one types ---
  const filter = document.getElementById("picker-filter");
  const items = () => Array.from(document.querySelectorAll("#picker-list li"));
  let pick = 0;

  function visibleItems() {
    return items().filter((li) => !li.hidden);
  }

  function paintPicker() {
    const shown = visibleItems();
    pick = Math.max(0, Math.min(shown.length - 1, pick));
    items().forEach((li) => li.classList.remove("active"));
    if (shown[pick]) {
      shown[pick].classList.add("active");
      shown[pick].scrollIntoView({ block: "nearest" });
    }
  }

  function openPicker() {
    const chosen = targets();
    if (!chosen.length) {
      say("Nothing selected to relabel", true);
      return;
    }
    document.getElementById("picker-count").textContent =
      chosen.length === 1 ? `#${chosen[0].dataset.id}` : `${chosen.length} images`;
    filter.value = "";
    items().forEach((li) => (li.hidden = false));
    pick = 0;
    picker.showModal();
    filter.focus();
    paintPicker();
  }

  function choose(name) {
    picker.close();
    if (name) decide("relabel", { class: name });
  }

  filter.addEventListener("input", () => {
    const text = filter.value.toLowerCase();
    items().forEach((li) => (li.hidden = !li.dataset.class.toLowerCase().includes(text)));
    pick = 0;
    paintPicker();
  });
  filter.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      pick += event.key === "ArrowDown" ? 1 : -1;
      paintPicker();
      event.preventDefault();
    } else if (event.key === "Enter") {
      event.preventDefault();
      const shown = visibleItems();
      choose(shown[pick] && shown[pick].dataset.class);
    }
  });
  document.getElementById("picker-list").addEventListener("click", (event) => {
    const li = event.target.closest("li");
    if (li) choose(li.dataset.class);
  });

  // --- the keys: the same letters as `curate review` ---
  function auditId() {
    const grid = document.querySelector(".grid[data-audit]");
    return grid ? Number(grid.dataset.audit) : null;
  }

  function act(key) {
    switch (key) {
      case "k":
        return decide("accept");
      case "d":
        return decide("reject");
      case "l":
        return openPicker();
      case "m":
        return decide("move");
      case "a":
        if (auditId() !== null) return decide("suggest", { audit: auditId() });
        return undefined;
      case "u":
        return undo();
      case "selectall":
        cells().forEach((c) => selected.add(idOf(c)));
        return paint();
      default:
        return undefined;
    }
  }

  document.addEventListener("keydown", (event) => {
    if (picker.open) return;
    const field = event.target.closest && event.target.closest("input, select, textarea");
    if (field) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a") {
      event.preventDefault();
      act("selectall");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const all = cells();
    switch (event.key) {
      case "ArrowRight":
        moveCursor(cursor + 1);
        break;
      case "ArrowLeft":
        moveCursor(cursor - 1);
        break;
      case "ArrowDown":
        moveCursor(cursor + columns());
        break;
      case "ArrowUp":
        moveCursor(cursor - columns());
        break;
      case " ":
        if (all[cursor]) {
          const id = idOf(all[cursor]);
          if (selected.has(id)) selected.delete(id);
          else selected.add(id);
          anchor = cursor;
          paint();
        }
        break;
      case "Escape":
        selected.clear();
        paint();
        break;
      case "o":
      case "Enter":
        if (all[cursor]) window.location.href = `/image/${all[cursor].dataset.id}`;
        break;
      default:
        if (["k", "d", "l", "m", "a", "u"].includes(event.key)) act(event.key);
        else return;
    }
    event.preventDefault();
  });

  document.querySelectorAll("button[data-key]").forEach((button) => {
    button.addEventListener("click", () => act(button.dataset.key));
  });

  // --- the mouse: click toggles, shift-click selects a range, a drag selects a rectangle ---
  let drag = null;
  let dragged = false;
  const box = document.createElement("div");
  box.className = "rubber";
  document.body.appendChild(box);

  document.addEventListener("click", (event) => {
    const cell = event.target.closest(".grid .cell");
    if (!cell || dragged) return;
    event.preventDefault();
    const index = cells().indexOf(cell);
    if (event.shiftKey && anchor >= 0) {
      selectRange(anchor, index);
    } else {
      const id = idOf(cell);
      if (selected.has(id)) selected.delete(id);
      else selected.add(id);
      anchor = index;
    }
    cursor = index;
    paint();
  });

  document.addEventListener("dblclick", (event) => {
    const cell = event.target.closest(".grid .cell");
    if (cell) window.location.href = `/image/${cell.dataset.id}`;
  });

  document.addEventListener("mousedown", (event) => {
    if (event.button !== 0 || !event.target.closest(".grid")) return;
    drag = { x: event.pageX, y: event.pageY };
    dragged = false;
  });

  document.addEventListener("mousemove", (event) => {
    if (!drag) return;
    const [x1, x2] = [Math.min(drag.x, event.pageX), Math.max(drag.x, event.pageX)];
    const [y1, y2] = [Math.min(drag.y, event.pageY), Math.max(drag.y, event.pageY)];
    if (!dragged && x2 - x1 + (y2 - y1) < 8) return;
    dragged = true;
    Object.assign(box.style, {
      display: "block",
      left: `${x1}px`,
      top: `${y1}px`,
      width: `${x2 - x1}px`,
      height: `${y2 - y1}px`,
    });
    event.preventDefault();
  });

  document.addEventListener("mouseup", (event) => {
    if (!drag) return;
    if (dragged) {
      const r = box.getBoundingClientRect();
      cells().forEach((cell) => {
        const c = cell.getBoundingClientRect();
        if (c.right > r.left && c.left < r.right && c.bottom > r.top && c.top < r.bottom) {
          selected.add(idOf(cell));
        }
      });
      box.style.display = "none";
      paint();
      // the click that follows a drag must not toggle the cell it ended on
      setTimeout(() => (dragged = false), 0);
    }
    drag = null;
    event.preventDefault();
  });

  // --- load more: the next page's cells appended to the grid ---
  const more = document.getElementById("more");
  if (more) {
    more.addEventListener("click", async () => {
      const grid = document.querySelector(".grid[data-more]");
      const marker = grid.querySelector(".more-marker:last-of-type");
      if (!marker) return;
      const last = cells().pop();
      const url = new URL(grid.dataset.more, window.location.href);
      url.searchParams.set("offset", marker.dataset.offset);
      if (last) url.searchParams.set("after_class", last.dataset.class);
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) {
        say(`could not load more: HTTP ${response.status}`, true);
        return;
      }
      marker.remove();
      grid.insertAdjacentHTML("beforeend", await response.text());
      if (!grid.querySelector(".more-marker")) more.remove();
      paint();
    });
  }

  if (cells().length) moveCursor(0);
})();
