//! The page's options, from its URL parameters or `mount()`'s: checked one
//! by one, each bad one reported (quoted and shortened) and the rest kept.

use super::BackendChoice;
use crate::models::{ModelConfig, ModelKind, Size};

/// `size=page|full`.
pub fn parse_size(s: &str) -> Result<Size, String> {
    {
        match s {
            "page" | "small" => Ok(Size::Page),
            "full" => Ok(Size::Full),
            _ => Err(format!("size={}: choose page or full", shown(s))),
        }
    }
}

/// What a page (or a `mount` call) asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct PageOptions {
    /// One or two panes.
    pub models: Vec<ModelKind>,
    pub autostart: bool,
    pub seed: u32,
    /// Stop after this many steps.
    pub steps: Option<u64>,
    pub controls: bool,
    pub charts: bool,
    pub compact: bool,
    pub backend: BackendChoice,
    pub size: Size,
    /// Every pane's latent size, instead of its preset's.
    pub latent: Option<usize>,
    /// Show the drawing pad (the autoencoding panes answer what is drawn).
    pub pad: bool,
}

impl Default for PageOptions {
    fn default() -> Self {
        PageOptions {
            models: vec![ModelKind::Dcgan, ModelKind::ConvVae],
            autostart: false,
            seed: 1,
            steps: None,
            controls: true,
            charts: true,
            compact: false,
            backend: BackendChoice::Auto,
            size: Size::Page,
            latent: None,
            pad: false,
        }
    }
}

/// The parameters a page understands, for the message about an unknown one.
pub const PARAMETERS: &str =
    "models, autostart, seed, steps, controls, charts, compact, backend, size, latent, pad";

/// Text from a URL as a message shows it: at most 24 characters (then "…"),
/// control characters escaped, so that a link cannot write the page's
/// messages for it.
pub fn shown(s: &str) -> String {
    const MAX: usize = 24;
    let mut out: String = s
        .chars()
        .take(MAX)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if s.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

fn flag(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "true" | "yes" | "" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!("{key}={}: use 1 or 0", shown(v))),
    }
}

fn whole<T: std::str::FromStr>(key: &str, v: &str, lo: u64, hi: u64) -> Result<T, String> {
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => v
            .parse()
            .map_err(|_| format!("{key}={}: out of range", shown(v))),
        _ => Err(format!(
            "{key}={}: expected a whole number in {lo}..={hi}",
            shown(v)
        )),
    }
}

/// `%2C` → `,`, `+` → space: enough of URL decoding for these values.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl PageOptions {
    /// Reads a query string (`?models=dcgan,conv-vae&autostart=1`). Every
    /// wrong parameter is reported (one message each) and left at its
    /// default, so the page still comes up and says what to fix.
    pub fn parse(query: &str) -> (PageOptions, Vec<String>) {
        let mut o = PageOptions::default();
        let mut problems = Vec::new();
        for pair in query.trim_start_matches('?').split('&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode(key), decode(value));
            let value = value.trim();
            let result = match key.as_str() {
                "models" => parse_models(value).map(|m| o.models = m),
                "autostart" => flag(&key, value).map(|v| o.autostart = v),
                "seed" => whole(&key, value, 0, u32::MAX as u64).map(|v| o.seed = v),
                "steps" => whole(&key, value, 1, 10_000_000).map(|v| o.steps = Some(v)),
                "controls" => flag(&key, value).map(|v| o.controls = v),
                "charts" => flag(&key, value).map(|v| o.charts = v),
                "compact" => flag(&key, value).map(|v| o.compact = v),
                "pad" => flag(&key, value).map(|v| o.pad = v),
                "backend" => BackendChoice::parse(value)
                    .map(|v| o.backend = v)
                    .map_err(|e| format!("backend={}: {e}", shown(value))),
                "size" => parse_size(value).map(|v| o.size = v),
                "latent" => whole(&key, value, 1, 1024).map(|v| o.latent = Some(v)),
                _ => Err(format!(
                    "unknown parameter \"{}\" ignored (the page reads {PARAMETERS})",
                    shown(&key)
                )),
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
        (o, problems)
    }
}

impl PageOptions {
    /// Each pane's settings: its preset at the page's size and seed, with
    /// the page's latent size if given and valid for that model (if not,
    /// the preset's, and a message).
    pub fn configs(&self) -> (Vec<ModelConfig>, Vec<String>) {
        let mut problems = Vec::new();
        let configs = self
            .models
            .iter()
            .map(|&k| {
                let c = ModelConfig::preset(k, self.size, self.seed);
                match self.latent {
                    Some(latent) => {
                        let with = ModelConfig {
                            latent,
                            ..c.clone()
                        };
                        match with.validate() {
                            Ok(()) => with,
                            Err(e) => {
                                problems.push(format!("latent={latent}: {e}"));
                                c
                            }
                        }
                    }
                    None => c,
                }
            })
            .collect();
        (configs, problems)
    }
}

fn parse_models(v: &str) -> Result<Vec<ModelKind>, String> {
    let kinds = v
        .split(',')
        .map(|m| {
            ModelKind::parse(m.trim()).map_err(|_| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "models={}: unknown model \"{}\": choose one of {}",
                    shown(v),
                    shown(m.trim()),
                    names.join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    match kinds.len() {
        1 | 2 => Ok(kinds),
        n => Err(format!(
            "models={}: give one or two models, not {n}",
            shown(v)
        )),
    }
}
