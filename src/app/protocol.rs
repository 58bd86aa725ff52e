//! What the page's main thread and a pane's worker say to each other.
//!
//! Each pane trains in a dedicated Web Worker that holds a [`Lab`] of that
//! one pane (www/worker.js around web.rs's `Playground`). The main thread
//! keeps the DOM and sends [`Command`]s as plain objects, `{do: "train"}`,
//! `{do: "setting", key: "lr", value: "0.001"}`; file contents travel beside
//! the object (they are not JSON). The worker answers each with an
//! [`Answer`] or an error message, and reports on its own, a few times a
//! second, its state (`PaneView`s) and its pictures.
//!
//! [`Lab::handle`] is the part of the worker that is the same natively and
//! in the browser; web.rs adds what needs the browser (the backend, the GPU
//! device, a deliberate panic).

use super::*;
use crate::export::Format;
use serde::Deserialize;

/// A command to a pane's worker (`do` names it, in kebab case).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "do", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command {
    Train,
    Pause,
    Reset,
    /// Whether setting `key` to `value` would rebuild the model (losing its
    /// training): answers [`Answer::Rebuilds`], changes nothing.
    SettingRebuilds {
        key: String,
        value: String,
    },
    /// Applies a setting: the learning rate in place, anything else by
    /// rebuilding the model.
    Setting {
        key: String,
        value: String,
    },
    /// Replaces the model with `model`'s preset at `size` ("page" or "full").
    Model {
        model: String,
        size: String,
    },
    /// Trains on the two MNIST-format files attached (images and labels,
    /// either order, gzip or raw): answers [`Answer::Summary`].
    Data {
        #[serde(skip)]
        files: Vec<Vec<u8>>,
    },
    /// The weights, Adam's state and the settings as safetensors: answers [`Answer::Bytes`].
    Save,
    /// The network the model draws with, as `format` ("onnx", or
    /// "pytorch": a state dict and its model.py): answers [`Answer::Files`].
    Export {
        format: String,
    },
    /// Replaces the model with the one in the safetensors file attached.
    Load {
        #[serde(skip)]
        files: Vec<Vec<u8>>,
    },
    /// Draws the pictures at the next frame, whatever the time.
    Draw,
    /// Picks the digit a conditional pane's grid and strip draw (`null`:
    /// every digit, a row each).
    Digit {
        digit: Option<u8>,
    },
    /// The drawing pad's drawing, attached as `width`×`height` grey bytes
    /// (ink bright): answers [`Answer::Pad`]. A conditional VAE encodes it
    /// with `label`, or else with the classifier's reading.
    Pad {
        width: usize,
        height: usize,
        #[serde(default)]
        label: Option<u8>,
        #[serde(skip)]
        files: Vec<Vec<u8>>,
    },
    /// Held-out digit `index` for the pad: answers [`Answer::HeldOut`].
    HeldOut {
        index: usize,
    },
    /// Rebuilds the model on `backend` ("auto", "gpu", "cpu"): browser only.
    Backend {
        backend: String,
    },
    /// Destroys the GPU device, as a driver reset would: browser only.
    LoseDevice,
    /// Panics, as a bug would: browser only (the page must survive it).
    Panic,
}

/// The names of the commands, for the message about an unknown one.
pub const COMMANDS: &str = "train, pause, reset, setting-rebuilds, setting, model, data, save, export, load, draw, digit, pad, held-out, backend, lose-device, panic";

impl Command {
    /// Turns a decoding error (serde-wasm-bindgen's in the browser, any
    /// serde format's natively) into a message that says what a command is.
    pub fn check<E: std::fmt::Display>(r: Result<Command, E>) -> Result<Command, String> {
        r.map_err(|e| {
            format!(
                "not a command a pane's worker knows ({e}): send {{do: …}} with one of {COMMANDS}"
            )
        })
    }

    /// Attaches the files that travel beside the object (`Data`: two,
    /// `Load`: one); any other command takes none.
    pub fn with_files(mut self, given: Vec<Vec<u8>>) -> Result<Command, String> {
        let n = given.len();
        match &mut self {
            Command::Data { files } => {
                if n != 2 {
                    return Err(format!(
                        "choose two files, the images and the labels of an MNIST-format set (IDX, gzip or raw); got {n}"
                    ));
                }
                *files = given;
            }
            Command::Load { files } => {
                if n != 1 {
                    return Err(format!("load takes one weights file; got {n}"));
                }
                *files = given;
            }
            Command::Pad { files, .. } => {
                if n != 1 {
                    return Err(format!("pad takes one drawing (grey bytes); got {n}"));
                }
                *files = given;
            }
            _ if n > 0 => return Err(format!("this command takes no files; got {n}")),
            _ => {}
        }
        Ok(self)
    }
}

/// A worker's answer to a command.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Done,
    Rebuilds(bool),
    /// What changed, in words (new data).
    Summary(String),
    /// A file (saved weights).
    Bytes(Vec<u8>),
    /// Named files (an export).
    Files(Vec<(String, Vec<u8>)>),
    /// The pad's drawing as the panes see it, and their answers.
    Pad(PadView),
    /// A held-out digit (784 bytes) and its label.
    HeldOut {
        digit: Vec<u8>,
        label: u8,
    },
}

/// Whether an answer means the pane's pictures are out of date.
fn redraws(c: &Command) -> bool {
    matches!(
        c,
        Command::Reset
            | Command::Setting { .. }
            | Command::Model { .. }
            | Command::Data { .. }
            | Command::Load { .. }
            | Command::Draw
            | Command::Digit { .. }
    )
}

impl<B: Backend> Lab<B> {
    /// Carries out `command` on pane `i`. On an error nothing changed and the
    /// message says why. Returns the answer, and whether the pane's pictures
    /// should be drawn again.
    pub async fn handle(
        &mut self,
        b: &B,
        i: usize,
        command: Command,
    ) -> Result<(Answer, bool), String> {
        let redraw = redraws(&command);
        let answer = match command {
            Command::Train => self.send(i, Event::Train).map(|_| Answer::Done),
            Command::Pause => self.send(i, Event::Pause).map(|_| Answer::Done),
            Command::Reset => self.reset(b, i).map(|_| Answer::Done),
            Command::SettingRebuilds { key, value } => {
                let p = self.pane(i)?;
                let new = p.config().with(&key, &value)?;
                Ok(Answer::Rebuilds(needs_rebuild(p.config(), &new)))
            }
            Command::Setting { key, value } => {
                let p = self.pane(i)?;
                let new = p.config().with(&key, &value)?;
                if needs_rebuild(p.config(), &new) {
                    self.rebuild(b, i, new)?;
                } else {
                    self.panes[i].trainer.model.set_lr(b, new.lr);
                }
                Ok(Answer::Done)
            }
            Command::Model { model, size } => {
                let kind = ModelKind::parse(&model)?;
                let size = parse_size(&size)?;
                let seed = self.pane(i)?.config().seed;
                self.rebuild(b, i, ModelConfig::preset(kind, size, seed))
                    .map(|_| Answer::Done)
            }
            Command::Data { files } => {
                let parts: Vec<&[u8]> = files.iter().map(|f| f.as_slice()).collect();
                let digits = digits_from_files(&parts)?;
                self.set_data(&digits)?;
                Ok(Answer::Summary(format!(
                    "training on {} digits, {} held out",
                    self.train_set.len(),
                    self.held_out.len()
                )))
            }
            Command::Save => self.save(b, i).await.map(Answer::Bytes),
            Command::Export { format } => {
                let format = Format::parse(&format)?;
                self.export(b, i, format).await.map(Answer::Files)
            }
            Command::Load { files } => match files.first() {
                Some(bytes) => self.load(b, i, bytes).map(|_| Answer::Done),
                None => Err("load takes one weights file; got none".into()),
            },
            Command::Draw => self.pane(i).map(|_| Answer::Done),
            Command::Digit { digit } => {
                self.pane(i)?;
                self.panes[i].pick_digit(digit).map(|_| Answer::Done)
            }
            Command::Pad {
                width,
                height,
                label,
                files,
            } => {
                let grey = files.first().ok_or("pad takes one drawing; got none")?;
                self.pad(b, grey, (width, height), label)
                    .await
                    .map(Answer::Pad)
            }
            Command::HeldOut { index } => self
                .held_out_digit(index)
                .map(|(digit, label)| Answer::HeldOut { digit, label }),
            Command::Backend { .. } | Command::LoseDevice | Command::Panic => Err(
                "this command needs the browser's worker (the backend and the GPU device are chosen there)"
                    .into(),
            ),
        }?;
        Ok((answer, redraw))
    }

    fn pane(&self, i: usize) -> Result<&Pane<B>, String> {
        let n = self.panes.len();
        self.panes
            .get(i)
            .ok_or_else(|| format!("there is no pane {i} (the page has {n})"))
    }
}

/// The state a pane shows once `event` reaches a pane now `state` (by name,
/// as [`PaneView::state`]): the main thread shows a click at once, before
/// the worker, busy with a step, has answered.
pub fn state_after(state: &str, event: &str) -> Result<&'static str, String> {
    let now = match state {
        "ready" => RunState::Ready,
        "training" => RunState::Training,
        "paused" => RunState::Paused,
        "finished" => RunState::Finished,
        "failed" => RunState::Failed(String::new()),
        _ => return Err(format!("no run state {state:?}")),
    };
    let e = match event {
        "train" => Event::Train,
        "pause" => Event::Pause,
        "reset" => Event::Reset,
        _ => return Err(format!("no event {event:?}: train, pause or reset")),
    };
    Ok(now.on(e).name())
}
