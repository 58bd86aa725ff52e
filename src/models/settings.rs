//! Every setting of a model, described once: its key (in URLs, flags and
//! saved files), its label, its range or choices, which models it applies
//! to, and whether changing it rebuilds the model. [`ModelConfig::validate`],
//! [`ModelConfig::with`], the weights files' headers, the CLI's flags and
//! the page's settings (rendered from [`schema`]) all read this list.

use super::{GanLoss, ModelConfig, ModelKind, MODELS};
use serde::Serialize;

/// A setting's values and how it is read and written.
pub enum Range {
    /// A whole number in `min..=max`.
    Whole {
        min: u64,
        max: u64,
        get: fn(&ModelConfig) -> u64,
        set: fn(&mut ModelConfig, u64),
    },
    /// A real number between `min` and `max`; an open end is excluded.
    Number {
        min: f64,
        max: f64,
        min_open: bool,
        max_open: bool,
        get: fn(&ModelConfig) -> f32,
        set: fn(&mut ModelConfig, f32),
    },
    /// One of these values (value, label).
    Choice {
        choices: &'static [(&'static str, &'static str)],
        get: fn(&ModelConfig) -> &'static str,
        set: fn(&mut ModelConfig, &str) -> Result<(), String>,
    },
}

pub struct Setting {
    pub key: &'static str,
    /// In sentences: "learning rate 2 is out of (0, 1)".
    pub label: &'static str,
    /// On the page, beside its control.
    pub title: &'static str,
    pub range: Range,
    /// The models it changes (the others ignore it).
    pub applies: fn(ModelKind) -> bool,
    /// Whether changing it rebuilds the model (and loses its training).
    pub rebuilds: bool,
    /// Shown among the page's settings.
    pub on_page: bool,
    /// Required in a weights file (files have had it from the start).
    pub since_v1: bool,
}

fn all(_: ModelKind) -> bool {
    true
}

fn gans(k: ModelKind) -> bool {
    k.is_gan()
}

const WHOLE_U32: u64 = u32::MAX as u64;

/// Every setting but the model itself, in the page's order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "latent",
        label: "latent size",
        title: "Latent size",
        range: Range::Whole {
            min: 1,
            max: 1024,
            get: |c| c.latent as u64,
            set: |c, v| c.latent = v as usize,
        },
        applies: all,
        rebuilds: true,
        on_page: true,
        since_v1: true,
    },
    Setting {
        key: "batch",
        label: "batch size",
        title: "Batch",
        range: Range::Whole {
            min: 1,
            max: 1024,
            get: |c| c.batch as u64,
            set: |c, v| c.batch = v as usize,
        },
        applies: all,
        rebuilds: true,
        on_page: true,
        since_v1: true,
    },
    Setting {
        key: "lr",
        label: "learning rate",
        title: "Learning rate",
        range: Range::Number {
            min: 0.0,
            max: 1.0,
            min_open: true,
            max_open: true,
            get: |c| c.lr,
            set: |c, v| c.lr = v,
        },
        applies: all,
        rebuilds: false,
        on_page: true,
        since_v1: true,
    },
    Setting {
        key: "beta",
        label: "β",
        title: "β (KL weight)",
        range: Range::Number {
            min: 0.0,
            max: 100.0,
            min_open: false,
            max_open: false,
            get: |c| c.beta,
            set: |c, v| c.beta = v,
        },
        applies: ModelKind::is_vae,
        rebuilds: true,
        on_page: true,
        since_v1: true,
    },
    Setting {
        key: "gan_loss",
        label: "GAN loss",
        title: "GAN loss",
        range: Range::Choice {
            choices: GanLoss::CHOICES,
            get: |c| c.gan_loss.name(),
            set: |c, v| {
                c.gan_loss = GanLoss::parse(v)?;
                Ok(())
            },
        },
        applies: gans,
        rebuilds: true,
        on_page: true,
        since_v1: true,
    },
    Setting {
        key: "d_lr_scale",
        label: "discriminator learning-rate scale",
        title: "D's rate × (two-timescale)",
        range: Range::Number {
            min: 0.0,
            max: 100.0,
            min_open: true,
            max_open: false,
            get: |c| c.d_lr_scale,
            set: |c, v| c.d_lr_scale = v,
        },
        applies: gans,
        rebuilds: true,
        on_page: true,
        since_v1: false,
    },
    Setting {
        key: "d_steps",
        label: "discriminator steps per generator step",
        title: "D steps per G step",
        range: Range::Whole {
            min: 1,
            max: 10,
            get: |c| c.d_steps as u64,
            set: |c, v| c.d_steps = v as u32,
        },
        applies: gans,
        rebuilds: true,
        on_page: true,
        since_v1: false,
    },
    Setting {
        key: "g_average",
        label: "decay of the generator's weight average (EMA; 0: none)",
        title: "G's EMA decay",
        range: Range::Number {
            min: 0.0,
            max: 1.0,
            min_open: false,
            max_open: true,
            get: |c| c.g_average,
            set: |c, v| c.g_average = v,
        },
        applies: gans,
        rebuilds: true,
        on_page: true,
        since_v1: false,
    },
    Setting {
        key: "spectral_norm",
        label: "spectral normalisation of the discriminator",
        title: "D's spectral norm",
        range: Range::Choice {
            choices: &[
                ("off", "off"),
                ("on", "on: each D weight ÷ its largest singular value"),
            ],
            get: |c| if c.spectral_norm { "on" } else { "off" },
            set: |c, v| {
                c.spectral_norm = match v {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("spectral_norm {v:?}: choose on or off")),
                };
                Ok(())
            },
        },
        applies: gans,
        rebuilds: true,
        on_page: true,
        since_v1: false,
    },
    Setting {
        key: "minibatch_std",
        label: "group size of the discriminator's minibatch standard deviation (0: none)",
        title: "D's minibatch std group",
        range: Range::Whole {
            min: 0,
            max: 64,
            get: |c| c.minibatch_std as u64,
            set: |c, v| c.minibatch_std = v as usize,
        },
        applies: gans,
        rebuilds: true,
        on_page: true,
        since_v1: false,
    },
    Setting {
        key: "g_balance",
        label: "weight of the generator's digit-balance term (the classes loss only; 0: none)",
        title: "G's digit balance",
        range: Range::Number {
            min: 0.0,
            max: 10.0,
            min_open: false,
            max_open: false,
            get: |c| c.g_balance,
            set: |c, v| c.g_balance = v,
        },
        // The unconditional GANs: a conditional G is asked for its digits.
        applies: |k| matches!(k, ModelKind::MlpGan | ModelKind::Dcgan),
        rebuilds: true,
        on_page: true,
        since_v1: false,
    },
    Setting {
        key: "seed",
        label: "seed",
        title: "Seed",
        range: Range::Whole {
            min: 0,
            max: WHOLE_U32,
            get: |c| c.seed as u64,
            set: |c, v| c.seed = v as u32,
        },
        applies: all,
        rebuilds: true,
        on_page: true,
        since_v1: true,
    },
    Setting {
        key: "hidden",
        label: "hidden width",
        title: "Hidden width",
        range: Range::Whole {
            min: 0,
            max: 4096,
            get: |c| c.hidden as u64,
            set: |c, v| c.hidden = v as usize,
        },
        applies: |k| {
            matches!(
                k,
                ModelKind::MlpGan | ModelKind::Autoencoder | ModelKind::MlpVae | ModelKind::Cvae
            )
        },
        rebuilds: true,
        on_page: false,
        since_v1: true,
    },
    Setting {
        key: "width",
        label: "width",
        title: "Width (channels)",
        range: Range::Whole {
            min: 1,
            max: 256,
            get: |c| c.width as u64,
            set: |c, v| c.width = v as usize,
        },
        applies: |k| {
            matches!(
                k,
                ModelKind::Dcgan | ModelKind::ConvVae | ModelKind::Cdcgan | ModelKind::ConvCvae
            )
        },
        rebuilds: true,
        on_page: false,
        since_v1: true,
    },
    Setting {
        key: "d_width",
        label: "discriminator width (0: the width)",
        title: "D's width (channels; 0: the width)",
        range: Range::Whole {
            min: 0,
            max: 256,
            get: |c| c.d_width as u64,
            set: |c, v| c.d_width = v as usize,
        },
        applies: |k| matches!(k, ModelKind::Dcgan | ModelKind::Cdcgan),
        rebuilds: true,
        on_page: false,
        since_v1: false,
    },
    Setting {
        key: "adam_beta1",
        label: "Adam β1",
        title: "Adam β1",
        range: Range::Number {
            min: 0.0,
            max: 1.0,
            min_open: false,
            max_open: true,
            get: |c| c.adam_beta1,
            set: |c, v| c.adam_beta1 = v,
        },
        applies: all,
        rebuilds: true,
        on_page: false,
        since_v1: false,
    },
    Setting {
        key: "dropout",
        label: "dropout",
        title: "Dropout",
        range: Range::Number {
            min: 0.0,
            max: 0.95,
            min_open: false,
            max_open: true,
            get: |c| c.dropout,
            set: |c, v| c.dropout = v,
        },
        applies: |k| matches!(k, ModelKind::Dcgan | ModelKind::Cdcgan | ModelKind::MlpGan),
        rebuilds: true,
        on_page: false,
        since_v1: true,
    },
];

impl Range {
    /// "1..=1024", "(0, 1)", "[0, 0.95)".
    pub fn describe(&self) -> String {
        match *self {
            Range::Whole { min, max, .. } => format!("{min}..={max}"),
            Range::Number {
                min,
                max,
                min_open,
                max_open,
                ..
            } => format!(
                "{}{min}, {max}{}",
                if min_open { "(" } else { "[" },
                if max_open { ")" } else { "]" }
            ),
            Range::Choice { choices, .. } => {
                let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
                names.join(", ")
            }
        }
    }
}

impl Setting {
    /// The value as a string (what a weights file's header holds).
    pub fn get(&self, c: &ModelConfig) -> String {
        match self.range {
            Range::Whole { get, .. } => get(c).to_string(),
            Range::Number { get, .. } => get(c).to_string(),
            Range::Choice { get, .. } => get(c).to_string(),
        }
    }

    /// Parses and sets the value (the range is checked by [`Setting::check`]).
    pub fn set(&self, c: &mut ModelConfig, value: &str) -> Result<(), String> {
        let v = value.trim();
        match self.range {
            Range::Whole { max, set, .. } => {
                let n: u64 = v
                    .parse()
                    .map_err(|_| format!("{} {value:?} is not a whole number", self.label))?;
                if n > max {
                    return Err(format!(
                        "{} {n} is out of {}",
                        self.label,
                        self.range.describe()
                    ));
                }
                set(c, n);
            }
            Range::Number { set, .. } => {
                let x = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| format!("{} {value:?} is not a number", self.label))?;
                set(c, x as f32);
            }
            Range::Choice { set, .. } => set(c, v)?,
        }
        Ok(())
    }

    /// Whether the value of `c` is in range.
    pub fn check(&self, c: &ModelConfig) -> Result<(), String> {
        let ok = match self.range {
            Range::Whole { min, max, get, .. } => (min..=max).contains(&get(c)),
            Range::Number {
                min,
                max,
                min_open,
                max_open,
                get,
                ..
            } => {
                let x = get(c) as f64;
                let above = if min_open { x > min } else { x >= min };
                let below = if max_open { x < max } else { x <= max };
                above && below
            }
            Range::Choice { .. } => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} {} is out of {}",
                self.label,
                self.get(c),
                self.range.describe()
            ))
        }
    }
}

/// The registry as the page reads it: every model, every setting (with
/// its range and the models it applies to), how losses are labelled.
#[derive(Serialize)]
pub struct Schema {
    pub models: Vec<ModelView>,
    pub settings: Vec<SettingView>,
    pub losses: Vec<(&'static str, &'static str)>,
}

#[derive(Serialize)]
pub struct ModelView {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub family: super::Family,
    pub loss_names: &'static [&'static str],
    /// Settings whose title differs for this model: (key, title).
    pub titles: Vec<(&'static str, &'static str)>,
}

#[derive(Serialize)]
pub struct SettingView {
    pub key: &'static str,
    pub title: &'static str,
    /// "whole", "number" or "choice".
    pub kind: &'static str,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub choices: Vec<(&'static str, &'static str)>,
    /// Names of the models it applies to.
    pub models: Vec<&'static str>,
    pub rebuilds: bool,
}

/// The schema of the page's settings ([`Setting::on_page`]).
pub fn schema() -> Schema {
    let models = MODELS
        .iter()
        .map(|m| ModelView {
            name: m.name,
            title: m.title,
            description: m.description,
            family: m.family,
            loss_names: m.family.loss_names(),
            titles: vec![("latent", m.family.latent_label())],
        })
        .collect();
    let settings = SETTINGS
        .iter()
        .filter(|s| s.on_page)
        .map(|s| {
            let (kind, min, max, choices) = match s.range {
                Range::Whole { min, max, .. } => {
                    ("whole", Some(min as f64), Some(max as f64), vec![])
                }
                Range::Number { min, max, .. } => ("number", Some(min), Some(max), vec![]),
                Range::Choice { choices, .. } => ("choice", None, None, choices.to_vec()),
            };
            SettingView {
                key: s.key,
                title: s.title,
                kind,
                min,
                max,
                choices,
                models: MODELS
                    .iter()
                    .filter(|m| (s.applies)(m.kind))
                    .map(|m| m.name)
                    .collect(),
                rebuilds: s.rebuilds,
            }
        })
        .collect();
    Schema {
        models,
        settings,
        losses: super::LOSS_LABELS.to_vec(),
    }
}
