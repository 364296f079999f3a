"""Operations: what platform operators need to keep the machinery running (the jobs
outbox: counts, dead jobs, retry)."""
