-- A validator lists the orders of her organisation, newest first (issue 5: authorisation by reach).

CREATE INDEX orders_by_organisation ON orders (tenant_id, organisation_id, submitted_at DESC)
    WHERE organisation_id IS NOT NULL;
