-- Business limits on amounts (libs/common/limits.py, stated in docs/contracts.md): a unit price is at
-- most 10^8 minor units, a quantity per line 10^5, an order total (so any line total) 10^11.
--
-- Added NOT VALID, then validated when every stored row keeps the limit: a row stored before the
-- limit existed and over it is left for an operator to correct (a warning names the constraint), so
-- the service still starts; every row written from now on is checked either way.

ALTER TABLE products
    ADD CONSTRAINT products_price_limit CHECK (price_minor <= 100000000) NOT VALID;
ALTER TABLE price_list_prices
    ADD CONSTRAINT price_list_prices_price_limit CHECK (price_minor <= 100000000) NOT VALID;
ALTER TABLE orders
    ADD CONSTRAINT orders_total_limit CHECK (total_minor <= 100000000000) NOT VALID;
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_limits CHECK (
        quantity <= 100000 AND unit_price_minor <= 100000000 AND line_total_minor <= 100000000000
    ) NOT VALID;

DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['products', 'products_price_limit'],
        ['price_list_prices', 'price_list_prices_price_limit'],
        ['orders', 'orders_total_limit'],
        ['order_lines', 'order_lines_limits']
    ] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', pair[1], pair[2]);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'stored rows of % break %: correct them, then VALIDATE CONSTRAINT', pair[1], pair[2];
        END;
    END LOOP;
END
$$;
