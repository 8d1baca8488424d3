//! A timeline on a fresh file in its own temp directory.

use kafclaw_policy::TrustClass;
use kafclaw_timeline::{NewTask, Task, Timeline, TimelineOptions};

pub struct TempTimeline {
    pub tl: Timeline,
    /// Keeps the directory alive as long as the timeline.
    pub _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempTimeline {
    type Target = Timeline;
    fn deref(&self) -> &Timeline {
        &self.tl
    }
}

pub async fn open() -> TempTimeline {
    let dir = tempfile::tempdir().unwrap();
    let tl = Timeline::open(TimelineOptions::new(dir.path().join("timeline.db")))
        .await
        .unwrap();
    TempTimeline { tl, _dir: dir }
}

pub fn owner_task(content: &str) -> NewTask {
    NewTask::new("cli", "owner", TrustClass::Owner, content)
}

pub async fn new_task(tl: &Timeline, content: &str) -> Task {
    tl.create_task(owner_task(content)).await.unwrap().task
}
