-- Who holds the run lock of a warehouse schema, for messages and pipewatch status.
-- Grain: zero or one row. Params: $1 the warehouse schema name.
SELECT a.pid, a.application_name, a.backend_start, a.client_addr::text AS client_addr
FROM pg_locks AS l
JOIN pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory'
  AND l.granted
  AND l.classid = hashtext('pipewatch run')::oid
  AND l.objid = hashtext($1::text)::oid
  AND l.objsubid = 2
LIMIT 1
