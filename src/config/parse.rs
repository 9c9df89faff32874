//! Putting the sections together: [`Parser::parse`] reads `[retry]` first (every connection
//! gets its policy), hands every other section to the module of its group, and checks the rules
//! that span sections (an instance named twice, overrides without `[alerts]`).

use std::collections::BTreeMap;
#[cfg(test)]
use std::path::Path;

use config::{Value, ValueKind};

use super::alerts::{AlertOverride, AlertSettings};
use super::connections::RetrySettings;
use super::error::ConfigError;
use super::ini::Parser;
use super::matcher::DagMatcher;
use super::reporting::DEFAULT_TIME_ZONE;
use super::sections::{
    AIRFLOW_API_SECTION, AIRFLOW_SECTION, AIRFLOW_UI, ALERTS, EXTRACT, OBJECTIVE, PROMETHEUS,
    REPORTING, RETENTION, RETRY, ROUTE, STAGING, VALIDATE, WAREHOUSE,
};
use super::settings::Settings;
use super::staging::{DEFAULT_LOCAL_DIRECTORY, StagingSettings};

impl Parser<'_> {
    pub(super) fn parse(&self, root: Value) -> Result<Settings, ConfigError> {
        let mut sections: BTreeMap<String, Value> = match root.kind {
            ValueKind::Table(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        let mut warehouse = None;
        let mut staging = None;
        let mut extract = None;
        let mut time_zone = None;
        let mut validate = None;
        let mut retention = None;
        let mut prometheus = None;
        let mut airflow = Vec::new();
        let mut airflow_api = Vec::new();
        let mut alerts: Option<AlertSettings> = None;
        let mut overrides = Vec::new();
        let mut routes = Vec::new();
        let mut objectives = Vec::new();
        let mut airflow_ui = None;
        // One retry policy for every connection and request: read first, handed to the others.
        let retry = match sections.remove(RETRY) {
            Some(value) => self.retry(self.section(RETRY, value)?)?,
            None => RetrySettings::default(),
        };
        for (name, value) in sections {
            let section = self.section(&name, value)?;
            match section.spec.name {
                WAREHOUSE => warehouse = Some(self.warehouse(section, retry)?),
                STAGING => staging = Some(self.staging(section, retry)?),
                EXTRACT => extract = Some(self.extract(section)?),
                REPORTING => time_zone = Some(self.reporting(section)?),
                VALIDATE => validate = Some(self.validate(section)?),
                RETENTION => retention = Some(self.retention(section)?),
                PROMETHEUS => prometheus = Some(self.prometheus(section)?),
                AIRFLOW_SECTION => airflow.push(self.airflow(section, retry)?),
                AIRFLOW_API_SECTION => airflow_api.push(self.airflow_api(section, retry)?),
                ALERTS if section.name == ALERTS => alerts = Some(self.alerts(section)?),
                ALERTS => overrides.push(self.alert_override(section)?),
                ROUTE => routes.push(self.route(section)?),
                OBJECTIVE => objectives.push(self.objective(section)?),
                AIRFLOW_UI => airflow_ui = Some(self.airflow_ui(section)?),
                other => unreachable!("section [{other}] is in SECTIONS but not parsed"),
            }
        }
        let (warehouse, lock_wait_seconds) = warehouse.ok_or_else(|| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message: "missing section [warehouse] (pipewatch needs a warehouse to write to)"
                .to_string(),
        })?;
        // BTreeMap order puts [airflowdb_config] before [airflowdb_config_*]; keep it.
        // An instance is either a database or an API source, never both: its rows, watermark
        // and stage folder are keyed by the name alone.
        let mut seen = BTreeMap::new();
        let named = airflow
            .iter()
            .map(|a| (&a.instance, &a.database.section))
            .chain(airflow_api.iter().map(|a| (&a.instance, &a.section)));
        for (instance, section) in named {
            if let Some(other) = seen.insert(instance.clone(), section.clone()) {
                return Err(ConfigError::Rule {
                    path: self.path.to_path_buf(),
                    message: format!(
                        "sections [{other}] and [{section}] both name Airflow instance `{instance}`: give each an `instance` of its own (an instance is read from its database or its REST API, never both)"
                    ),
                });
            }
        }
        if alerts.is_none() && !overrides.is_empty() {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message:
                    "per-DAG [alerts_*] sections need an [alerts] section, which turns alerts on"
                        .to_string(),
            });
        }
        if alerts.is_none() && !routes.is_empty() {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: "[route_*] sections route alerts, so they need an [alerts] section, which turns alerts on".to_string(),
            });
        }
        self.check_overrides(&overrides, &seen)?;
        self.check_matchers(
            routes
                .iter()
                .map(|r| (&r.section, &r.matcher))
                .chain(objectives.iter().map(|o| (&o.section, &o.matcher))),
            &seen,
        )?;
        if let Some(a) = alerts.as_mut() {
            a.overrides = overrides;
            a.routes = routes;
            a.objectives = !objectives.is_empty();
        }
        let staging = match staging {
            Some(s) => s,
            None => StagingSettings::Local {
                directory: self.base.join(DEFAULT_LOCAL_DIRECTORY),
            },
        };
        Ok(Settings {
            path: self.path.to_path_buf(),
            warehouse,
            lock_wait_seconds,
            airflow,
            airflow_api,
            staging,
            extract: extract.unwrap_or_default(),
            time_zone: time_zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string()),
            validate: validate.unwrap_or_default(),
            retention: retention.unwrap_or_default(),
            prometheus: prometheus.unwrap_or_default(),
            alerts,
            objectives,
            airflow_ui,
        })
    }
}

impl Parser<'_> {
    /// The instances of a route or an objective must be configured ones (a misspelt name would
    /// match nothing).
    fn check_matchers<'m>(
        &self,
        matchers: impl Iterator<Item = (&'m String, &'m DagMatcher)>,
        instances: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        for (section, matcher) in matchers {
            if let Some(instance) = matcher
                .instances
                .iter()
                .find(|i| !instances.contains_key(*i))
            {
                let configured: Vec<&str> = instances.keys().map(String::as_str).collect();
                return Err(ConfigError::Rule {
                    path: self.path.to_path_buf(),
                    message: format!(
                        "[{section}] instance names `{instance}`, which no Airflow section configures (configured: {}): fix the name or remove it",
                        if configured.is_empty() {
                            "none".to_string()
                        } else {
                            configured.join(", ")
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    /// A DAG's own alert section must be able to match: its `instance`, when set, is a
    /// configured one; and no two sections give rules for the same DAG on the same instances
    /// (which of the two would win is no one's guess to make).
    fn check_overrides(
        &self,
        overrides: &[AlertOverride],
        instances: &BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        let rule = |message: String| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message,
        };
        let mut by_dag: BTreeMap<(&str, Option<&str>), &str> = BTreeMap::new();
        for o in overrides {
            if let Some(instance) = &o.instance
                && !instances.contains_key(instance)
            {
                let configured: Vec<&str> = instances.keys().map(String::as_str).collect();
                return Err(rule(format!(
                    "[{}] names instance `{instance}`, which no Airflow section configures (configured: {}): fix the name or remove the key",
                    o.section,
                    if configured.is_empty() {
                        "none".to_string()
                    } else {
                        configured.join(", ")
                    }
                )));
            }
            let key = (o.dag_id.as_str(), o.instance.as_deref());
            if let Some(first) = by_dag.insert(key, &o.section) {
                let on = match &o.instance {
                    Some(i) => format!("on instance `{i}`"),
                    None => "on every instance".to_string(),
                };
                return Err(rule(format!(
                    "sections [{first}] and [{}] both set the rules of DAG `{}` {on}: merge them into one section",
                    o.section, o.dag_id
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sections::known_sections;
    use crate::config::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        parse_env(text, &[])
    }

    fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        load_from_str(
            Path::new("/etc/pipewatch/pipeline.conf"),
            text,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    const MINIMAL: &str = "[warehouse]\nusername = etl\ndatabase = dw\n";

    #[test]
    fn shipped_example_parses_with_documented_defaults() {
        let text = include_str!("../../pipeline.conf.example");
        let settings = parse(text).expect("pipeline.conf.example must parse");
        assert_eq!(settings.warehouse.port, DEFAULT_PORT);
        assert_eq!(settings.warehouse.schema.as_str(), DEFAULT_WAREHOUSE_SCHEMA);
        assert_eq!(settings.airflow.len(), 1);
        assert_eq!(settings.airflow[0].instance, DEFAULT_INSTANCE_NAME);
        assert_eq!(settings.extract, ExtractSettings::default());
        match &settings.staging {
            StagingSettings::Local { directory } => {
                assert_eq!(directory, Path::new("/etc/pipewatch/stage"))
            }
            other => panic!("example should stage locally, got {other:?}"),
        }
    }

    #[test]
    fn every_key_the_parser_knows_is_documented_in_the_example() {
        let text = include_str!("../../pipeline.conf.example");
        for spec in SECTIONS {
            // A route and an objective exist only with a label.
            let header = if spec.name == ROUTE || spec.name == OBJECTIVE {
                format!("[{}_<label>]", spec.name)
            } else {
                format!("[{}]", spec.name)
            };
            assert!(
                text.lines()
                    .any(|l| l.trim_start_matches(';').trim() == header),
                "{header} is not in pipeline.conf.example"
            );
            for key in spec.keys {
                let documented = text.lines().any(|l| {
                    let l = l.trim_start_matches(';').trim();
                    l.starts_with(&format!("{key} =")) || l == format!("{key} =")
                });
                assert!(
                    documented,
                    "[{}] {key} is not in pipeline.conf.example",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn unknown_section_message_lists_every_section_of_the_table() {
        let known = known_sections();
        for spec in SECTIONS {
            assert!(known.contains(&format!("[{}]", spec.name)), "{known}");
        }
        assert!(known.contains("[airflowdb_config_<instance>]"), "{known}");
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.warehouse.host, "localhost");
        assert_eq!(s.warehouse.port, 5432);
        assert!(s.warehouse.password.is_empty());
        assert!(s.airflow.is_empty());
    }

    #[test]
    fn unknown_key_names_key_section_and_file() {
        let err = parse(&format!("{MINIMAL}hots = x\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `hots`"), "{err}");
        assert!(err.contains("[warehouse]"), "{err}");
        assert!(err.contains("/etc/pipewatch/pipeline.conf"), "{err}");
    }

    #[test]
    fn unknown_section_is_refused() {
        let err = parse(&format!("{MINIMAL}[warehous]\nhost = x\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown section [warehous]"), "{err}");
    }

    #[test]
    fn an_unknown_section_from_the_environment_is_blamed_on_the_environment() {
        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUS__HOST", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown section [warehous]"), "{err}");
        assert!(
            err.starts_with("environment variables PIPEWATCH__WAREHOUS__*"),
            "{err}"
        );
        assert!(!err.contains("pipeline.conf"), "{err}");
    }

    #[test]
    fn every_configuration_snippet_of_the_readme_parses() {
        let readme = include_str!("../../README.md");
        let mut snippets = 0;
        for block in readme.split("```conf\n").skip(1) {
            let snippet = &block[..block.find("```").unwrap()];
            parse(&format!("{MINIMAL}{snippet}"))
                .unwrap_or_else(|e| panic!("README snippet {snippet}: {e}"));
            snippets += 1;
        }
        assert!(snippets >= 1);
    }

    #[test]
    fn every_malformed_objective_is_refused_naming_its_section_and_key() {
        let af = "[airflowdb_config]\nusername = etl\ndatabase = af\ninstance = prod\n";
        let dag = "dag_id = orders\n";
        for (body, wanted) in [
            (
                "lands_by = 6 am\n",
                "[objective_a] lands_by = \"6 am\" is not valid",
            ),
            ("lands_by = 25:00\n", "[objective_a] lands_by"),
            (
                "lands_by = 06:00\ntime_zone = Europe/Berln\n",
                "[objective_a] time_zone",
            ),
            (
                "lands_by = 06:00\ndays = mon-funday\n",
                "[objective_a] days",
            ),
            ("lands_by = 06:00\ndays = ,\n", "the list names no day"),
            ("within = 2\n", "[objective_a] within"),
            ("within = 0m\n", "[objective_a] within"),
            ("within = 2h\nafter = start_date\n", "[objective_a] after"),
            (
                "runtime_within = mean + 3 sd\n",
                "[objective_a] runtime_within",
            ),
            (
                "runtime_within = median + 3 MAD\nruntime_runs = 2\n",
                "[objective_a] runtime_runs",
            ),
            ("within = 2h\ntarget = 100%\n", "[objective_a] target"),
            ("", "[objective_a] states no promise"),
            (
                "within = 2h\nlands_by = 06:00\n",
                "states lands_by and within promises",
            ),
            (
                "within = 2h\ndays = mon-fri\n",
                "sets `days`, which goes with `lands_by`",
            ),
            (
                "lands_by = 06:00\nafter = queued\n",
                "sets `after`, which goes with `within`",
            ),
            ("within = 2h\nland_by = 06:00\n", "unknown key `land_by`"),
        ] {
            let err = parse(&format!("{MINIMAL}{af}[objective_a]\n{dag}{body}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(wanted), "{body}: {wanted:?} not in {err}");
        }
        for (section, wanted) in [
            (
                "[objective_a]\nwithin = 2h\n",
                "[objective_a] matches no DAG",
            ),
            (
                "[objective_a]\ninstance = dev\nwithin = 2h\n",
                "`dev`, which no Airflow section configures",
            ),
            (
                "[objective]\ndag_id = x\nwithin = 2h\n",
                "[objective] needs a label",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}{af}{section}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(wanted), "{section}: {wanted:?} not in {err}");
        }
        let ok = parse(&format!(
            "{MINIMAL}{af}[objective_orders_by_six]\nowner = finance\ntask_id = load\nlands_by = 06:00\ntime_zone = Europe/Berlin\ndays = mon-fri\ntarget = 95%\n\
             [objective_fast]\ndag_id = orders\nruntime_within = median + 3 MAD\n\
             [objective_soon]\ntag = core\nwithin = 1h30m\nafter = queued\n"
        ))
        .unwrap();
        let described: Vec<String> = ok.objectives.iter().map(|o| o.describe()).collect();
        assert_eq!(
            described,
            [
                "the run runs within median + 3 MAD of its last 20 successful runs, target 99%",
                "task load succeeds by 06:00 Europe/Berlin on mon-fri, target 95%",
                "the run succeeds within 1h30m after queued, target 99%",
            ]
        );
    }

    #[test]
    fn every_malformed_route_is_refused_naming_its_section_and_key() {
        let af = "[airflowdb_config]\nusername = etl\ndatabase = af\ninstance = prod\n";
        let hook = "webhook_url = https://hooks.example.com/T/B/x\n";
        for (section, wanted) in [
            (
                "[route_a]\nowner = x\n".to_string(),
                "[route_a] has no webhook_url",
            ),
            (format!("[route_a]\n{hook}"), "[route_a] matches nothing"),
            (format!("[route_a]\n{hook}owner = ,\n"), "[route_a] owner"),
            (
                format!("[route_a]\n{hook}tag = \n"),
                "[route_a] matches nothing",
            ),
            (
                format!("[route]\n{hook}owner = x\n"),
                "[route] needs a label",
            ),
            (
                format!("[route_default]\n{hook}owner = x\n"),
                "[route_default] is reserved",
            ),
            (
                format!("[route_a]\n{hook}instance = dev\n"),
                "`dev`, which no Airflow section configures",
            ),
            (
                format!("[route_a]\n{hook}owners = x\n"),
                "unknown key `owners`",
            ),
            (
                "[route_a]\nwebhook_url = ftp://x\nowner = x\n".to_string(),
                "webhook_url",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}{af}[alerts]\n{section}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(wanted), "{section}: {wanted:?} not in {err}");
        }
        let err = parse(&format!("{MINIMAL}{af}[route_a]\n{hook}owner = x\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("need an [alerts] section"), "{err}");
        let ok = parse(&format!(
            "{MINIMAL}{af}[alerts]\n[route_a]\n{hook}owner = x, y\ninstance = prod\n"
        ))
        .unwrap();
        let routes = &ok.alerts.unwrap().routes;
        assert_eq!(routes[0].label, "a");
        assert_eq!(routes[0].matcher.owners, ["x", "y"]);
        assert_eq!(routes[0].matcher.instances, ["prod"]);
    }

    #[test]
    fn alert_sections_that_cannot_match_or_compete_are_refused() {
        let af = "[airflowdb_config]\nusername = etl\ndatabase = af\n";
        let err = parse(&format!(
            "{MINIMAL}{af}[alerts]\nfreshness_hours = 26\n[alerts_x]\ndag_id = d\ninstance = nosuch\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("[alerts_x] names instance `nosuch`")
                && err.contains("(configured: default)"),
            "{err}"
        );
        let err = parse(&format!(
            "{MINIMAL}{af}[alerts]\nfreshness_hours = 26\n[alerts_a]\ndag_id = d\n[alerts_b]\ndag_id = d\nfreshness_hours = 2\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(
                "sections [alerts_a] and [alerts_b] both set the rules of DAG `d` on every instance"
            ),
            "{err}"
        );
        // One for every instance and one for a named instance: the named one wins, whatever
        // the sections' names.
        let s = parse(&format!(
            "{MINIMAL}{af}[alerts]\nfreshness_hours = 26\n[alerts_a]\ndag_id = d\ninstance = default\nfreshness_hours = 5\n[alerts_b]\ndag_id = d\nfreshness_hours = 9\n"
        ))
        .unwrap();
        let alerts = s.alerts.unwrap();
        assert_eq!(
            alerts.rules_for("default", "d").freshness_hours,
            Some(Freshness::Hours(5.0))
        );
        assert_eq!(
            alerts.rules_for("other", "d").freshness_hours,
            Some(Freshness::Hours(9.0))
        );
    }

    #[test]
    fn a_bad_value_in_the_file_names_its_line() {
        let err = parse("[warehouse]\nusername = etl\ndatabase = dw\nport = fifty\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/etc/pipewatch/pipeline.conf: line 4: [warehouse] port = \"fifty\""),
            "{err}"
        );
        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUSE__PORT", "fifty")])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable PIPEWATCH__WAREHOUSE__PORT: "),
            "{err}"
        );
        assert!(known_sections().contains("[alerts_<label>]"));
        assert!(known_sections().contains("[airflowdb_config_<instance>]"));
    }

    #[test]
    fn a_repeated_key_or_section_is_refused_naming_both_lines() {
        let err = parse(
            "[warehouse]\nusername = etl\nschema = a\ndatabase = dw\n; comment = x\nSchema = b\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "/etc/pipewatch/pipeline.conf: line 6: `schema` is set a second time in [warehouse] (first on line 3); keep one of the two lines"
        );
        let err = parse(&format!(
            "{MINIMAL}[staging]\nlocal_directory = s\n[warehouse]\nhost = x\n"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "/etc/pipewatch/pipeline.conf: line 6: section [warehouse] appears a second time (first on line 1); put all its keys under one [section] header"
        );
        // The same key in two sections is fine, and so is a comment repeating a key.
        parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = etl\ndatabase = af\n; database = old\n"
        ))
        .unwrap();
    }

    #[test]
    fn instance_names_that_are_not_folder_names_are_refused() {
        for name in ["..", ".", ".hidden", "a/b", "a b"] {
            let err = parse(&format!(
                "{MINIMAL}[airflowdb_config]\nusername = etl\ndatabase = af\ninstance = {name}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("instance") && err.contains("is not valid"),
                "{name:?}: {err}"
            );
        }
        parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = etl\ndatabase = af\ninstance = prod-eu.1\n"
        ))
        .unwrap();
    }

    #[test]
    fn non_numeric_port_names_the_key() {
        let err = parse(&format!("{MINIMAL}port = fivefourthreetwo\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[warehouse] port = \"fivefourthreetwo\" is not valid"),
            "{err}"
        );
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn missing_required_key_names_key_and_env_var() {
        let err = parse("[warehouse]\nusername = etl\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing required key `database`"), "{err}");
        assert!(err.contains("PIPEWATCH__WAREHOUSE__DATABASE"), "{err}");
    }

    #[test]
    fn environment_overrides_file_and_errors_name_the_variable() {
        let s = parse_env(
            &format!("{MINIMAL}password = from-file\n"),
            &[
                ("PIPEWATCH__WAREHOUSE__PASSWORD", "from-env"),
                ("PIPEWATCH__WAREHOUSE__PORT", "6543"),
            ],
        )
        .unwrap();
        assert_eq!(s.warehouse.password.expose(), "from-env");
        assert_eq!(s.warehouse.port, 6543);

        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUSE__PORT", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable PIPEWATCH__WAREHOUSE__PORT"),
            "{err}"
        );
        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUSE__HOTS", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable PIPEWATCH__WAREHOUSE__HOTS"),
            "{err}"
        );
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("pipewatch-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "s3cr3t pass\n").unwrap();
        std::fs::write(dir.join("key"), "sk-from-file\r\n").unwrap();
        let config = dir.join("pipeline.conf");
        let load = |text: &str| load_from_str(&config, text, Vec::new());
        let s = load(&format!(
            "[warehouse]\nusername = etl\ndatabase = dw\npassword_file = pw\n\
             [staging]\nbackend = s3\nbucket = b\naccess_key_id = AK\nsecret_access_key_file = {}\n",
            dir.join("key").display()
        ))
        .unwrap();
        assert_eq!(s.warehouse.password.expose(), "s3cr3t pass");
        match &s.staging {
            StagingSettings::S3(s3) => assert_eq!(
                s3.secret_access_key.as_ref().unwrap().expose(),
                "sk-from-file"
            ),
            other => panic!("{other:?}"),
        }
        let err =
            load("[warehouse]\nusername = etl\ndatabase = dw\npassword = x\npassword_file = pw\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("sets both password and password_file"),
            "{err}"
        );
        let err = load("[warehouse]\nusername = etl\ndatabase = dw\npassword_file = missing\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[warehouse] password_file: cannot read") && err.contains("missing"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_settings_are_checked_with_the_configuration() {
        let s = parse(&format!(
            "{MINIMAL}sslmode = verify-full\nsslrootcert = certs/ca.pem\nsslcert = c.pem\nsslkey = c.key\n"
        ))
        .unwrap();
        assert_eq!(s.warehouse.tls.mode, SslMode::VerifyFull);
        assert_eq!(
            s.warehouse.tls.root_cert.as_deref(),
            Some(Path::new("/etc/pipewatch/certs/ca.pem"))
        );
        assert_eq!(parse(MINIMAL).unwrap().warehouse.tls.mode, SslMode::Prefer);
        for (lines, expected) in [
            (
                "sslmode = allow\n",
                "disable, prefer, require, verify-ca or verify-full",
            ),
            (
                "sslmode = verify-full\n",
                "sslmode = verify-full needs sslrootcert",
            ),
            (
                "sslmode = require\nsslcert = c.pem\n",
                "sslcert and sslkey go together",
            ),
            (
                "sslmode = disable\nsslrootcert = ca.pem\n",
                "sslmode = disable with sslrootcert",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}{lines}")).unwrap_err().to_string();
            assert!(err.contains(expected), "{lines}: {err}");
        }
    }

    #[test]
    fn password_never_appears_in_debug_output() {
        let s = parse(&format!(
            "{MINIMAL}password = hunter2-secret\n[staging]\nbackend = s3\nbucket = b\naccess_key_id = AK\nsecret_access_key = sk-secret\n"
        ))
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("***"));
    }

    #[test]
    fn several_airflow_instances_are_named_by_section_or_key() {
        let s = parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = a\ndatabase = a\n[airflowdb_config_eu]\nusername = b\ndatabase = b\n[airflowdb_config_us]\ninstance = us-east\nusername = c\ndatabase = c\n"
        ))
        .unwrap();
        let names: Vec<_> = s.airflow.iter().map(|a| a.instance.as_str()).collect();
        assert_eq!(names, ["default", "eu", "us-east"]);
        let err = parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = a\ndatabase = a\n[airflowdb_config_x]\ninstance = default\nusername = b\ndatabase = b\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("both name Airflow instance `default`"),
            "{err}"
        );
    }

    #[test]
    fn schema_names_are_validated() {
        let err = parse(&format!("{MINIMAL}schema = Robert'); drop\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[warehouse] schema"), "{err}");
    }

    #[test]
    fn s3_staging_needs_a_bucket_and_keeps_prefix_as_folder() {
        let err = parse(&format!("{MINIMAL}[staging]\nbackend = s3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing required key `bucket`"), "{err}");
        let s = parse(&format!(
            "{MINIMAL}[staging]\nbackend = s3\nbucket = b\nprefix = extracts\nendpoint_url = http://127.0.0.1:9000\n"
        ))
        .unwrap();
        match s.staging {
            StagingSettings::S3(s3) => {
                assert_eq!(s3.prefix, "extracts/");
                assert_eq!(s3.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&format!("{MINIMAL}[staging]\nbackend = ftp\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`local` or `s3`"), "{err}");
    }

    #[test]
    fn key_outside_a_section_is_refused() {
        let err = parse(&format!("host = x\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside any section"), "{err}");
    }

    #[test]
    fn api_sections_parse_with_defaults_and_implied_instance_names() {
        let s = parse(&format!(
            "{MINIMAL}[airflow_api]\nbase_url = https://airflow.example.com/\nusername = u\npassword = p\n\
             [airflow_api_composer]\nbase_url = https://x.composer.googleusercontent.com\ntoken = t0k\napi_version = v2\n"
        ))
        .unwrap();
        assert_eq!(s.airflow_api.len(), 2);
        let first = &s.airflow_api[0];
        assert_eq!(first.instance, DEFAULT_INSTANCE_NAME);
        assert_eq!(first.base_url, "https://airflow.example.com");
        assert_eq!(first.api_version, ApiVersionSetting::Auto);
        assert!(first.verify_tls);
        assert_eq!(first.page_size, DEFAULT_API_PAGE_SIZE);
        assert_eq!(
            first.request_timeout_seconds,
            DEFAULT_API_REQUEST_TIMEOUT_SECONDS
        );
        assert_eq!(
            first.max_requests_per_second,
            DEFAULT_API_MAX_REQUESTS_PER_SECOND
        );
        assert!(matches!(&first.auth, ApiAuth::Password { username, .. } if username == "u"));
        let second = &s.airflow_api[1];
        assert_eq!(second.instance, "composer");
        assert_eq!(second.api_version, ApiVersionSetting::V2);
        assert!(matches!(&second.auth, ApiAuth::Token(t) if t.expose() == "t0k"));
        // Secrets never print.
        assert!(!format!("{s:?}").contains("t0k"));
        let sources = s.sources();
        let names: Vec<&str> = sources.iter().map(|x| x.instance()).collect();
        assert_eq!(names, ["default", "composer"]);
    }

    #[test]
    fn api_sections_refuse_what_cannot_work() {
        let api = |body: &str| {
            parse(&format!("{MINIMAL}[airflow_api]\n{body}"))
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (
                "username = u\npassword = p\n",
                "missing required key `base_url`",
            ),
            (
                "base_url = airflow:8080\nusername = u\npassword = p\n",
                "http:// or https://",
            ),
            (
                "base_url = http://a/api/v1\nusername = u\npassword = p\n",
                "without /api/v1",
            ),
            ("base_url = http://a\n", "needs credentials"),
            ("base_url = http://a\nusername = u\n", "go together"),
            (
                "base_url = http://a\nusername = u\npassword = p\ntoken = t\n",
                "keep one way",
            ),
            (
                "base_url = http://a\ntoken = t\napi_version = 3\n",
                "auto (ask the server), v1 (Airflow 2) or v2 (Airflow 3)",
            ),
            (
                "base_url = https://a\ntoken = t\nverify_tls = false\nca_file = ca.pem\n",
                "remove one of the two",
            ),
            (
                "base_url = http://a\ntoken = t\npage_size = 0\n",
                "from 1 to 100000",
            ),
        ];
        for (body, wanted) in cases {
            let err = api(body);
            assert!(err.contains(wanted), "{body:?}: {err}");
        }
    }

    #[test]
    fn an_instance_is_a_database_or_an_api_never_both() {
        let err = parse(&format!(
            "{MINIMAL}[airflowdb_config_prod]\nusername = a\ndatabase = af\n\
             [airflow_api]\ninstance = prod\nbase_url = http://a\ntoken = t\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("both name Airflow instance `prod`"), "{err}");
        assert!(err.contains("never both"), "{err}");
    }

    #[test]
    fn api_secrets_come_from_the_environment_and_files() {
        let s = parse_env(
            &format!("{MINIMAL}[airflow_api]\nbase_url = http://a\nusername = u\n"),
            &[("PIPEWATCH__AIRFLOW_API__PASSWORD", "from-env")],
        )
        .unwrap();
        assert!(
            matches!(&s.airflow_api[0].auth, ApiAuth::Password { password, .. } if password.expose() == "from-env")
        );
    }
}
