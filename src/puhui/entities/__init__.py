"""Entities (市场主体): enterprises, individual businesses and farmers' cooperatives."""
