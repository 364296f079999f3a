"""Platform statistics: the figures the regulator reads to see whether the platform changes
outcomes (records collected, queries, demands and their outcomes, loans granted, first-time
borrowers, rates and their spread to the LPR, days to grant, coverage, models, instant
products, alerts, batch downloads), month by month, as pages, JSON and CSV."""
