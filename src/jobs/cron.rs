//! Repeatable jobs: parsing `[[jobs.schedules]]` and finding the ticks that came due.
//!
//! Every instance checks every schedule; for each tick it tries to enqueue the job with a
//! per-tick key (`SET NX` in Redis, inside the enqueue script), so exactly one instance
//! enqueues it, and any instance that is up does, so no tick is skipped while one is down.

use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde::Deserialize;

/// A repeatable job: every tick of `cron` (UTC) enqueues `payload` on `queue`, once per
/// tick across all instances.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduleSettings {
    pub name: String,
    /// 5 fields (minute hour day-of-month month day-of-week); a 6th, leading seconds
    /// field is accepted too.
    pub cron: String,
    pub queue: String,
    pub payload: serde_json::Value,
}

/// Ticks handled per schedule and check at most: a clock jump does not flood a queue.
const MAX_TICKS_PER_CHECK: usize = 10;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub name: String,
    pub queue: String,
    pub payload: serde_json::Value,
    cron: Cron,
}

impl Schedule {
    /// Parses and checks one entry; the error names the schedule.
    pub fn parse(settings: &ScheduleSettings) -> Result<Schedule, String> {
        let name = &settings.name;
        if !super::id::valid_id(name) {
            return Err(format!(
                "schedule name `{name}` must be 1..=128 of letters, digits, - _ . :"
            ));
        }
        if !super::QUEUES.contains(&settings.queue.as_str()) {
            return Err(format!(
                "schedule `{name}`: unknown queue `{}`",
                settings.queue
            ));
        }
        if !settings.payload.is_object() {
            return Err(format!("schedule `{name}`: payload must be a JSON object"));
        }
        // 5 fields (standard), or 6 with a leading seconds field; never a year field.
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser
            .parse(&settings.cron)
            .map_err(|e| format!("schedule `{name}`: bad cron `{}`: {e}", settings.cron))?;
        Ok(Schedule {
            name: name.clone(),
            queue: settings.queue.clone(),
            payload: settings.payload.clone(),
            cron,
        })
    }

    /// The ticks in `(after, until]`, oldest first, at most `MAX_TICKS_PER_CHECK`.
    pub fn ticks(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        self.cron
            .iter_after(after)
            .take_while(|t| *t <= until)
            .take(MAX_TICKS_PER_CHECK)
            .collect()
    }

    /// The job id and tick key of one tick: the same on every instance.
    pub fn tick_id(&self, tick: DateTime<Utc>) -> String {
        format!("cron:{}:{}", self.name, tick.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn schedule(cron: &str) -> Result<Schedule, String> {
        Schedule::parse(&ScheduleSettings {
            name: "warm".into(),
            cron: cron.into(),
            queue: "cache-warming".into(),
            payload: serde_json::json!({"kind": "products"}),
        })
    }

    #[test]
    fn every_six_hours_ticks_at_0_6_12_18_utc() {
        let s = schedule("0 */6 * * *").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
        let hours: Vec<u32> = s
            .ticks(start, end)
            .iter()
            .map(chrono::Timelike::hour)
            .collect();
        // (start, end]: midnight of the 1st is excluded, of the 2nd included.
        assert_eq!(hours, [6, 12, 18, 0]);
        assert_eq!(s.tick_id(end), format!("cron:warm:{}", end.timestamp()));
    }

    #[test]
    fn seconds_field_is_optional_and_ticks_are_bounded() {
        let s = schedule("* * * * * *").unwrap();
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let ticks = s.ticks(start, start + chrono::Duration::seconds(3));
        assert_eq!(ticks.len(), 3);
        assert_eq!(
            s.ticks(start, start + chrono::Duration::hours(1)).len(),
            MAX_TICKS_PER_CHECK
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(schedule("61 * * * *").is_err());
        assert!(schedule("* * *").is_err());
        let bad_queue = Schedule::parse(&ScheduleSettings {
            name: "x".into(),
            cron: "* * * * *".into(),
            queue: "nope".into(),
            payload: serde_json::json!({}),
        });
        assert!(bad_queue.unwrap_err().contains("unknown queue"));
    }
}
