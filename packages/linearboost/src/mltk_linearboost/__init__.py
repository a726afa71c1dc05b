"""mltk_linearboost."""
