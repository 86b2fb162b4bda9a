"""Fine-tune an audio-language model to predict emotion distributions (thin wrapper; see examples/README.md).

    accelerate launch examples/train.py --dataset <user>/iemocap-ambig --target combined_dist \
        --model Qwen/Qwen2-Audio-7B-Instruct --output_dir outputs/iemocap-combined

``--preset paper`` (the default) is the reference recipe of arXiv 2601.14620; ``--help`` lists every option.
"""

import sys

from hf_ambiguity.training.train import main

if __name__ == "__main__":
    sys.exit(main())
