"""Risk warning (一触可知): watchlists, rules on the warning indicators, real-time
evaluation of every committed batch, alerts and the notices they send."""
