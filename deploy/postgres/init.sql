-- Runs once, when the postgres container starts on an empty data volume
-- (mounted into /docker-entrypoint-initdb.d by deploy/compose.yaml).
--
-- What a DBA does in production: the database, then per service a login role and a schema of the
-- service's name owned by that role, visible to no one else. The services find their schema ready
-- and apply their own migrations in it. Passwords equal the role names: local use only.

CREATE DATABASE comptoir;
\connect comptoir

CREATE ROLE identity LOGIN PASSWORD 'identity';
CREATE ROLE catalog  LOGIN PASSWORD 'catalog';
CREATE ROLE ordering LOGIN PASSWORD 'ordering';
CREATE ROLE loyalty  LOGIN PASSWORD 'loyalty';
CREATE ROLE notify   LOGIN PASSWORD 'notify';
CREATE ROLE portal   LOGIN PASSWORD 'portal';

REVOKE ALL ON DATABASE comptoir FROM PUBLIC;
GRANT CONNECT ON DATABASE comptoir TO identity, catalog, ordering, loyalty, notify, portal;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA identity AUTHORIZATION identity;
CREATE SCHEMA catalog  AUTHORIZATION catalog;
CREATE SCHEMA ordering AUTHORIZATION ordering;
CREATE SCHEMA loyalty  AUTHORIZATION loyalty;
CREATE SCHEMA notify   AUTHORIZATION notify;
CREATE SCHEMA portal   AUTHORIZATION portal;

REVOKE ALL ON SCHEMA identity, catalog, ordering, loyalty, notify, portal FROM PUBLIC;
