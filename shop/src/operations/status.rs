//! The status report a person on call wants at 3 a.m.: one table of the
//! queues (ready, delayed, in flight, delivered, dead-lettered, retried, the
//! age of the oldest ready message), one of the components' health, the
//! alerts the deck's "Queue metrics that matter" asks for — dead letters
//! above zero, the oldest message older than a threshold, never depth alone —
//! and the conversations that are not complete.
//!
//! Reading it changes nothing: the numbers are the broker's
//! [`harness::Broker::queue_status`], the health checks only read (see
//! [`super::health`]). It prints with colour where the terminal supports it
//! ([`StatusReport::print`], through `anstream`); `Display` is plain text.

use std::fmt::{self, Write};
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use harness::{Broker, QueueStatus, SimTime};

use super::health::seconds;
use super::{Component, Conversations, Health};

/// How many conversations that are not complete the report lists.
const CONVERSATIONS_LISTED: usize = 5;

const BAD: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const GOOD: Style = AnsiColor::Green.on_default();
const BOLD: Style = Style::new().bold();

/// When the report raises an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Thresholds {
    /// The oldest ready message of a queue may wait this long (simulated
    /// time) before it is an alert. A deep queue that drains fast is fine; a
    /// message that has sat for long is not.
    pub oldest_ready_age: Duration,
}

impl Thresholds {
    /// Alert when the oldest ready message is older than `age`.
    pub fn oldest_ready_age(age: Duration) -> Thresholds {
        Thresholds {
            oldest_ready_age: age,
        }
    }
}

impl Default for Thresholds {
    /// One minute.
    fn default() -> Thresholds {
        Thresholds::oldest_ready_age(Duration::from_secs(60))
    }
}

/// Something a person must look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Alert {
    /// A queue's dead-letter queue is not empty: a human is needed.
    DeadLetters {
        /// The queue.
        queue: String,
        /// How many messages lie there.
        count: usize,
        /// The oldest of them and why it was given up: `AddItem(m2): no such filling`.
        oldest: String,
    },
    /// A queue's oldest ready message has waited longer than the threshold.
    Late {
        /// The queue.
        queue: String,
        /// How long it has waited.
        age: Duration,
        /// The threshold it passed.
        threshold: Duration,
    },
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Alert::DeadLetters {
                queue,
                count,
                oldest,
            } => {
                let letters = if *count == 1 {
                    "dead letter"
                } else {
                    "dead letters"
                };
                write!(
                    f,
                    "{queue}: {count} {letters}, the oldest {oldest} (runbook: locate, diagnose, correct, replay)"
                )
            }
            Alert::Late {
                queue,
                age,
                threshold,
            } => write!(
                f,
                "{queue}: the oldest ready message has waited {} (more than {})",
                seconds(*age),
                seconds(*threshold)
            ),
        }
    }
}

/// The status of the whole system at one moment.
///
/// ```
/// use harness::{Broker, Envelope, MessageId, Sim};
/// use shop::operations::{Alert, Component, StatusReport, Thresholds};
/// use std::time::Duration;
///
/// let sim = Sim::new(1);
/// let broker = Broker::new(&sim);
/// broker.declare_queue("orders");
/// broker.send("orders", Envelope::new(MessageId::from_u128(1), "AddItem", &"sauerkraut")).unwrap();
/// let delivery = broker.receive("orders").unwrap().unwrap();
/// broker.dead_letter(&delivery, "no such filling").unwrap();
/// broker.send("orders", Envelope::new(MessageId::from_u128(2), "AddItem", &"meat")).unwrap();
/// sim.advance(Duration::from_secs(90));
///
/// let components = [Component::new("orders").consuming("orders")];
/// let report = StatusReport::read(&broker, &components, Thresholds::default());
/// assert_eq!(report.alerts.len(), 2);
/// assert!(matches!(&report.alerts[1], Alert::Late { age, .. } if *age == Duration::from_secs(90)));
/// let text = report.to_string();
/// assert!(text.contains("orders: 1 dead letter, the oldest AddItem(m1): no such filling"), "{text}");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StatusReport {
    /// When it was read, on the simulated clock.
    pub at: SimTime,
    /// Every declared queue, by name.
    pub queues: Vec<QueueStatus>,
    /// Every component given, in order.
    pub health: Vec<Health>,
    /// What a person must look at, queue by queue: dead letters first.
    pub alerts: Vec<Alert>,
    /// The conversations, to locate what is parked or still waiting.
    pub conversations: Conversations,
    thresholds: Thresholds,
}

impl StatusReport {
    /// Reads the queues, checks each component and raises the alerts.
    pub fn read(broker: &Broker, components: &[Component], thresholds: Thresholds) -> StatusReport {
        let queues = broker.queue_statuses();
        let health = components
            .iter()
            .map(|component| component.check(broker))
            .collect();
        let alerts = alerts(broker, &queues, thresholds);
        StatusReport {
            at: broker.sim().now(),
            queues,
            health,
            alerts,
            conversations: Conversations::read(broker),
            thresholds,
        }
    }

    /// Prints the report to stdout, with colour where the terminal
    /// supports it (and none when `NO_COLOR` is set or stdout is a file).
    pub fn print(&self) {
        anstream::println!("{}", self.render(true));
    }

    /// The report as text; with ANSI colours when `styled`.
    pub fn render(&self, styled: bool) -> String {
        let paint = |style: Style, text: &str| {
            if styled {
                format!("{style}{text}{style:#}")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        let _ = writeln!(out, "{}", paint(BOLD, &format!("Status at {}", self.at)));
        out.push_str(&self.queue_table(&paint));
        out.push('\n');
        out.push_str(&self.health_table(&paint));
        out.push('\n');
        if self.alerts.is_empty() {
            let _ = writeln!(out, "{}", paint(GOOD, "No alerts."));
        } else {
            let _ = writeln!(
                out,
                "{}",
                paint(BAD, &format!("Alerts ({}):", self.alerts.len()))
            );
            for alert in &self.alerts {
                let _ = writeln!(out, "  ! {alert}");
            }
        }
        let _ = writeln!(out, "{}", self.conversations_summary());
        out
    }

    fn queue_table(&self, paint: &dyn Fn(Style, &str) -> String) -> String {
        let header = [
            "queue",
            "ready",
            "delayed",
            "in flight",
            "delivered",
            "dead-lettered",
            "retried",
            "oldest ready",
        ];
        let rows: Vec<Vec<(String, Option<Style>)>> = self
            .queues
            .iter()
            .map(|status| {
                let late = status
                    .oldest_ready_age
                    .is_some_and(|age| age > self.thresholds.oldest_ready_age);
                vec![
                    (status.queue.clone(), None),
                    (status.ready.to_string(), None),
                    (status.delayed.to_string(), None),
                    (status.in_flight.to_string(), None),
                    (status.delivered.to_string(), None),
                    (
                        status.dead_lettered.to_string(),
                        (status.dead_lettered > 0).then_some(BAD),
                    ),
                    (status.retried.to_string(), None),
                    (
                        status.oldest_ready_age.map_or("-".to_string(), seconds),
                        late.then_some(WARN),
                    ),
                ]
            })
            .collect();
        table(&header, &rows, paint)
    }

    fn health_table(&self, paint: &dyn Fn(Style, &str) -> String) -> String {
        if self.health.is_empty() {
            return String::new();
        }
        // Readiness last: its reason can be long.
        let header = ["component", "live", "lag", "ready"];
        let rows: Vec<Vec<(String, Option<Style>)>> = self
            .health
            .iter()
            .map(|health| {
                let live = if health.live {
                    ("yes", GOOD)
                } else {
                    ("no", BAD)
                };
                let ready = match &health.ready {
                    Ok(()) => ("yes".to_string(), GOOD),
                    Err(why) => (format!("no: {why}"), BAD),
                };
                vec![
                    (health.component.clone(), None),
                    (live.0.to_string(), Some(live.1)),
                    (health.lag.map_or("-".to_string(), seconds), None),
                    (ready.0, Some(ready.1)),
                ]
            })
            .collect();
        table(&header, &rows, paint)
    }

    fn conversations_summary(&self) -> String {
        let not_complete = self.conversations.not_complete();
        let mut out = self
            .conversations
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        for conversation in not_complete.iter().take(CONVERSATIONS_LISTED) {
            let _ = write!(out, "\n  {conversation}");
        }
        if not_complete.len() > CONVERSATIONS_LISTED {
            let _ = write!(
                out,
                "\n  … and {} more",
                not_complete.len() - CONVERSATIONS_LISTED
            );
        }
        out
    }
}

impl fmt::Display for StatusReport {
    /// The report as plain text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Dead letters of every queue first (a human is needed), then late queues.
fn alerts(broker: &Broker, queues: &[QueueStatus], thresholds: Thresholds) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for status in queues.iter().filter(|status| status.dead_lettered > 0) {
        let dead = broker.dead_letters(&status.queue).unwrap_or_default();
        let oldest = dead.first().map_or(String::new(), |letter| {
            let label = broker.sim().label(letter.envelope.id);
            format!(
                "{}({label}): {}",
                letter.envelope.message_type, letter.reason
            )
        });
        alerts.push(Alert::DeadLetters {
            queue: status.queue.clone(),
            count: status.dead_lettered,
            oldest,
        });
    }
    for status in queues {
        if let Some(age) = status.oldest_ready_age
            && age > thresholds.oldest_ready_age
        {
            alerts.push(Alert::Late {
                queue: status.queue.clone(),
                age,
                threshold: thresholds.oldest_ready_age,
            });
        }
    }
    alerts
}

/// A plain table: columns padded to their widest cell, numbers on the right;
/// a cell's style (if any) painted over its padded text so columns stay aligned.
fn table(
    header: &[&str],
    rows: &[Vec<(String, Option<Style>)>],
    paint: &dyn Fn(Style, &str) -> String,
) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].0.chars().count())
                .chain([header[column].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    // A column of counts is right-aligned, like numbers on a dashboard.
    let numeric: Vec<bool> = (0..header.len())
        .map(|column| {
            !rows.is_empty() && rows.iter().all(|row| row[column].0.parse::<u64>().is_ok())
        })
        .collect();
    let mut out = String::new();
    let titles: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(column, title)| pad(title, widths[column], numeric[column]))
        .collect();
    let _ = writeln!(out, "{}", paint(BOLD, titles.join("  ").trim_end()));
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, (text, style))| {
                // The last column is not padded: no trailing blanks.
                let last = column + 1 == row.len();
                let padded = if last && !numeric[column] {
                    text.clone()
                } else {
                    pad(text, widths[column], numeric[column])
                };
                match style {
                    Some(style) => paint(*style, &padded),
                    None => padded,
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// `text` padded to `width` characters: on the left when `right_aligned`.
fn pad(text: &str, width: usize, right_aligned: bool) -> String {
    if right_aligned {
        format!("{text:>width$}")
    } else {
        format!("{text:<width$}")
    }
}
