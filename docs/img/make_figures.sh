#!/bin/bash
# Regenerates the figures of docs/visualization.md from tiny real runs (about 5 minutes on two
# busy cores) and takes a headless-Chromium screenshot of an inspect.html (Debian: apt-get install
# chromium). Needs the viz extra: pip install -e '.[dev,viz]'. Run from the repository root.
set -euo pipefail
W=${W:-/tmp/apexrl-figures}
mkdir -p "$W/runs" docs/img
for s in 0 1 2; do
  apexrl train apex-dqn --env CartPole-v1 --preset cartpole --frames 4000 --backend local --no-progress \
    --learning-starts 200 --batch-size 32 --eval-interval-frames 500 --eval-episodes 3 --final-eval-episodes 5 \
    --seed $s --run-dir "$W/runs/cartpole-apex-dqn-s$s"
done
for a in apex-dqn dqn; do
  apexrl train $a --env MinAtar/Breakout-v1 --preset minatar --frames 20000 --backend local --no-progress \
    --learning-starts 1000 --eval-interval-frames 4000 --eval-episodes 5 --final-eval-episodes 10 --seed 0 \
    --run-dir "$W/runs/breakout-$a-s0"
done
apexrl train apex-dqn --env ALE/Pong-v5 --preset atari --frames 6000 --backend local --no-progress \
  --learning-starts 1000 --eval-interval-frames 3000 --eval-episodes 1 --final-eval-episodes 1 \
  --eval-max-episode-steps 2000 --seed 0 --run-dir "$W/runs/pong-apex-dqn-s0"

apexrl plot benchmarks/results/dqn_ablation_runs --out docs/img/dqn_ablation.png
apexrl plot "$W/runs/cartpole-*" --out docs/img/cartpole_curves.png
apexrl plot "$W/runs/breakout-*" --out docs/img/breakout_curves.png
apexrl score "$W/runs/breakout-*" --normalize random --out "$W/breakout_scores"
apexrl score "$W/runs/pong-apex-dqn-s0" --out "$W/pong_scores"
apexrl video "$W/runs/pong-apex-dqn-s0" --max-steps 1500 --out "$W/videos"
apexrl inspect "$W/runs/breakout-apex-dqn-s0" --episodes 5 --out "$W/breakout_inspect"
apexrl inspect "$W/runs/pong-apex-dqn-s0" --max-steps 1500 --tsne-states 1000 --what saliency --out "$W/pong_inspect"
for v in values saliency tsne filters; do cp "$W/breakout_inspect/$v.png" "docs/img/breakout_$v.png"; done
cp "$W/pong_inspect/saliency.png" docs/img/pong_saliency.png
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,2450 \
  --screenshot=docs/img/inspect_screenshot.png "file://$W/breakout_inspect/inspect.html"
# the committed PNGs were then reduced to 96 colours (PIL quantize) to keep them small
