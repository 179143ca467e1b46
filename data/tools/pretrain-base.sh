#!/bin/bash
# The exact command that made data/models/base (see data/models/README.md); run from the repository root after
# data/tools/make-corpus.cs and `bitdistill tokenizer train` (see there), with BITDISTILL pointing at the built CLI.
exec "${BITDISTILL:-bitdistill}" pretrain --output artifacts/base-pretrain \
  --corpus artifacts/corpus/brown.train.txt.gz artifacts/corpus/sotu.train.txt.gz artifacts/corpus/austen.train.txt.gz artifacts/corpus/debian.train.txt.gz \
  --valid artifacts/corpus/brown.valid.txt.gz artifacts/corpus/sotu.valid.txt.gz artifacts/corpus/austen.valid.txt.gz artifacts/corpus/debian.valid.txt.gz \
  --tokenizer artifacts/tokenizer8k --seed 1 --steps 2400 --batch 16 --seq-len 256 --lr 2e-3 \
  --hidden 256 --layers 6 --heads 4 --kv-heads 2 --head-dim 64 --intermediate 768 --checkpoint-every 100
