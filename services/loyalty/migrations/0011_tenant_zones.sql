-- Each tenant's time zone, as identity announces it: the dashboard counts the tenant's days in it.
CREATE TABLE tenant_zones (
    tenant_id  text PRIMARY KEY,
    time_zone  text NOT NULL,
    changed_at timestamptz NOT NULL
);
