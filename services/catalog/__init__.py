"""Catalog service: brands, products, price lists, assortments and documents."""
