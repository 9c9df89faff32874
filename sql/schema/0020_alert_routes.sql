-- Migration 0020: alert routes. Each alert's opening and resolution is posted to every route
-- that takes it ([route_<label>] sections, or the default route: [alerts] webhook_url); this
-- table records each delivery, so that a route whose webhook was down gets what it missed from
-- the next evaluation while the routes that got it are not posted to twice.
-- alert_history.open_notified_at / resolve_notified_at are set once every route got the notice.
-- Grain: alert_notice: one row per (alert, kind of notice, route) delivered.
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE alert_notice (
    alert_id  uuid        NOT NULL,
    kind      text        NOT NULL,
    route     text        NOT NULL,
    posted_at timestamptz NOT NULL DEFAULT now(),
    run_id    uuid        NOT NULL,
    CONSTRAINT alert_notice_pkey PRIMARY KEY (alert_id, kind, route),
    CONSTRAINT alert_notice_alert_fkey FOREIGN KEY (alert_id)
        REFERENCES alert_history (alert_id) ON DELETE CASCADE,
    CONSTRAINT alert_notice_kind_check CHECK (kind IN ('open', 'resolve'))
);

COMMENT ON TABLE alert_notice IS
    'Every notice pipewatch delivered: one row per alert, kind (open or resolve) and route it was posted to. Notices are posted as one digest per route per evaluation; a route whose webhook failed has no row and gets the notice from the next evaluation.';
COMMENT ON COLUMN alert_notice.alert_id IS 'The alert (alert_history.alert_id).';
COMMENT ON COLUMN alert_notice.kind IS 'open (its opening) or resolve (its resolution).';
COMMENT ON COLUMN alert_notice.route IS 'The route''s label ([route_<label>]), or default ([alerts] webhook_url).';
COMMENT ON COLUMN alert_notice.posted_at IS 'When the webhook accepted the digest that held it (UTC).';
COMMENT ON COLUMN alert_notice.run_id IS 'Run id of the pipewatch invocation that posted it.';
COMMENT ON COLUMN alert_history.open_notified_at IS 'When the opening had been posted to every route that takes it; NULL until then (the next evaluation posts to the routes that missed it).';
COMMENT ON COLUMN alert_history.resolve_notified_at IS 'When the resolution had been posted to every route that takes it; NULL until then.';
