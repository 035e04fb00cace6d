"""Synthetic anatomy with known answers: the phantom the sample study, the self-test, the synthetic cohorts and
the tests are built from. Never used to draw or localize real exams."""
