//! Where a pane is, and what moves it: the page's run-state machine.

/// Where a pane is.
#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    /// Built, not started (or reset).
    Ready,
    Training,
    Paused,
    /// Reached the page's step limit.
    Finished,
    /// Stopped by a failure (a loss that is not finite); Reset recovers.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Train,
    Pause,
    Reset,
    ReachedLimit,
    Failure(String),
}

impl RunState {
    pub fn on(self, e: Event) -> RunState {
        use RunState::*;
        match (self, e) {
            (_, Event::Reset) => Ready,
            (Ready | Paused | Training, Event::Train) => Training,
            (Training, Event::Pause) => Paused,
            (Training, Event::ReachedLimit) => Finished,
            (Training | Paused | Ready, Event::Failure(why)) => Failed(why),
            (s, _) => s,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            RunState::Ready => "ready",
            RunState::Training => "training",
            RunState::Paused => "paused",
            RunState::Finished => "finished",
            RunState::Failed(_) => "failed",
        }
    }
}
