-- Who holds the run lock of a warehouse schema, for messages and pipewatch status. Advisory
-- locks belong to a database: a pipewatch on a schema of the same name in another database of
-- the server holds a different lock, so only this database's locks are looked at.
-- Grain: zero or one row. Params: $1 the warehouse schema name.
SELECT a.pid, a.application_name, a.backend_start, a.client_addr::text AS client_addr
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.granted
  AND l.classid = hashtext('pipewatch run')::oid
  AND l.objid = hashtext($1::text)::oid
  AND l.objsubid = 2
LIMIT 1
