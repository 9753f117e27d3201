"""The drift gate's ground truth: known drifts and no-change re-runs of a seeded,
paraphrasing fake model, judged in process the way ``--intentus-verify`` judges them."""
