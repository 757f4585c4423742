-- The tenant's seller discount, from catalog.settings.v1: a seller's own orders are priced with it.
CREATE TABLE seller_discounts (
    tenant_id          text PRIMARY KEY,
    seller_discount_bp integer NOT NULL CHECK (seller_discount_bp BETWEEN 0 AND 10000),
    version            bigint NOT NULL
);
