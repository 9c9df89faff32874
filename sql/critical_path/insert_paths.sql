-- Writes the critical paths of a batch of runs: one dag_run_critical_path_run row per run and
-- one dag_run_critical_path row per step (src/critical_path computed them).
-- Grain: the rows given. Params: the runs $1 text[] instance, $2 text[] dag_id, $3 text[] run_id,
-- $4 date[] day, $5 text[] dag_version, $6 text[] status, $7 text[] reason, $8 timestamptz[]
-- start, $9 timestamptz[] end, $10 bigint[] scheduling delay (microseconds), $11 bigint[]
-- finish delay, $12 integer[] steps; the steps $13 text[] instance, $14 text[] dag_id, $15
-- text[] run_id, $16 integer[] step, $17 date[] day, $18 text[] task_id, $19 integer[] map
-- count, $20 integer[] tries, $21 timestamptz[] ready, $22 first try, $23 started, $24 ended,
-- $25 bigint[] dependency wait, $26 retry, $27 queue wait, $28 run (microseconds), $29 text[]
-- pool, $30 integer[] pool slots, $31 text[] queue; $32 the computing invocation's run id.
WITH runs AS (
    INSERT INTO dag_run_critical_path_run (
        airflow_instance, dag_id, run_id, day, dag_version, status, reason, run_started_at,
        run_ended_at, duration_seconds, scheduling_delay_seconds, finish_delay_seconds, steps,
        computed_by_run_id)
    SELECT r.i, r.d, r.r, r.day, r.v, r.status, r.reason, r.s, r.e,
           round(extract(epoch FROM r.e - r.s), 6), r.sched / 1e6, r.fin / 1e6, r.steps,
           $32::uuid
    FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::text[],
                $7::text[], $8::timestamptz[], $9::timestamptz[], $10::bigint[], $11::bigint[],
                $12::integer[])
         AS r(i, d, r, day, v, status, reason, s, e, sched, fin, steps)
    RETURNING 1
),
steps AS (
    INSERT INTO dag_run_critical_path (
        airflow_instance, dag_id, run_id, step, day, task_id, map_count, tries, ready_at,
        first_try_at, started_at, ended_at, dependency_wait_seconds, retry_seconds,
        queue_wait_seconds, run_seconds, pool, pool_slots, queue)
    SELECT s.i, s.d, s.r, s.step, s.day, s.task_id, s.maps, s.tries, s.ready, s.first, s.started,
           s.ended, s.dep / 1e6, s.retry / 1e6, s.queue_wait / 1e6, s.run / 1e6, s.pool,
           s.slots, s.queue
    FROM unnest($13::text[], $14::text[], $15::text[], $16::integer[], $17::date[], $18::text[],
                $19::integer[], $20::integer[], $21::timestamptz[], $22::timestamptz[],
                $23::timestamptz[], $24::timestamptz[], $25::bigint[], $26::bigint[],
                $27::bigint[], $28::bigint[], $29::text[], $30::integer[], $31::text[])
         AS s(i, d, r, step, day, task_id, maps, tries, ready, first, started, ended, dep, retry,
              queue_wait, run, pool, slots, queue)
    RETURNING 1
)
SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM steps) AS steps
