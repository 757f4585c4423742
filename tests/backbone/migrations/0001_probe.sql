-- Effects of the probe consumer: no unique constraint, so an event applied twice shows as two rows.
CREATE TABLE effects (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL,
    key        text NOT NULL,
    seq        integer NOT NULL,
    pid        integer NOT NULL,
    written_at timestamptz NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Switches the tests flip: `fixed` makes failing events succeed (the cause of the failure is fixed).
CREATE TABLE probe_switches (
    name text PRIMARY KEY,
    on_  boolean NOT NULL
);
