"""How synthetic, merged and model distributions compare with the human ones: alignment statistics with bootstrap
confidence intervals (:mod:`.alignment`), paired tests (:mod:`.significance`), inter-annotator agreement
(:mod:`.agreement`) and the saturation of alignment with the number of synthetic annotators (:mod:`.saturation`)."""
