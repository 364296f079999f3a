"""The indicator catalog: 595 indicators in 7 categories, with the 50 key (filterable)
and 27 warning (monitorable) sets."""
