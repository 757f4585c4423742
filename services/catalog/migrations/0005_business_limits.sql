-- Business limits on amounts (libs/common/limits.py, stated in docs/contracts.md): a unit price is at
-- most 10^8 minor units, in a product's base price as in a price list.
--
-- Added NOT VALID, then validated when every stored row keeps the limit: a row stored before the
-- limit existed and over it is left for an operator to correct (a warning names the constraint), so
-- the service still starts; every row written from now on is checked either way.

ALTER TABLE products
    ADD CONSTRAINT products_price_limit CHECK (price_minor <= 100000000) NOT VALID;
ALTER TABLE price_list_prices
    ADD CONSTRAINT price_list_prices_price_limit CHECK (price_minor <= 100000000) NOT VALID;

DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['products', 'products_price_limit'],
        ['price_list_prices', 'price_list_prices_price_limit']
    ] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', pair[1], pair[2]);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'stored rows of % break %: correct them, then VALIDATE CONSTRAINT', pair[1], pair[2];
        END;
    END LOOP;
END
$$;
