//! The host side of `trainhost:plugin/collectives` (contract 0.4.0): the
//! rendezvous of the K instances of one job. Every collective call is a
//! barrier: the instances' calls are matched by their sequence number, and a
//! call whose operation differs from the other ranks' fails the group,
//! naming both. Once the group has failed (an instance trapped, hit a limit,
//! returned an error, or returned from `train` while another waits), every
//! pending and later call returns that error at once, and the group's abort
//! token stops the instances that are still computing.
//!
//! Owns the group's shared state and the arithmetic of each operation. It
//! must not start instances or decide how a job ends (`runtime::parallel`
//! does), and it never waits without watching the caller's `StopWhen`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::error::RunError;
use super::sandbox::{CancelToken, PluginState, StopWhen};
use crate::contract::v0_4::trainhost::plugin0_4_0::collectives;

/// How often a waiting instance looks at its deadline and cancel flag: well
/// under the second within which a cancel must end the job.
const WAKE: Duration = Duration::from_millis(20);

/// How long a waiting instance spins before it sleeps on the condition
/// variable. The other instances usually arrive within tens of µs (a fit of
/// gbdt's makes thousands of calls); waking a sleeping thread costs about as
/// much again on a virtual machine, so a short spin saves most of that, and
/// a longer wait loses only this much CPU.
const SPIN: Duration = Duration::from_micros(50);

/// What one rank hands to a collective call.
#[derive(Debug)]
enum Payload {
    Sum(Vec<f64>, Vec<i64>),
    Broadcast(Vec<u8>),
    Gather(Vec<u8>),
}

impl Payload {
    /// The bytes this rank hands in (what the call moves per instance).
    fn bytes(&self) -> u64 {
        let bytes = match self {
            Payload::Sum(floats, integers) => 8 * (floats.len() + integers.len()),
            Payload::Broadcast(bytes) | Payload::Gather(bytes) => bytes.len(),
        };
        bytes as u64
    }

    fn name(&self) -> &'static str {
        match self {
            Payload::Sum(..) => "sum",
            Payload::Broadcast(_) => "broadcast",
            Payload::Gather(_) => "gather",
        }
    }
}

/// What a finished call produced, shared by every rank until each took its part.
#[derive(Debug)]
enum Output {
    Sum(Vec<f64>, Vec<i64>),
    Broadcast(Vec<u8>),
    Gather(Vec<Vec<u8>>),
}

/// What one rank receives.
pub enum Reply {
    Sum(Vec<f64>, Vec<i64>),
    Bytes(Vec<u8>),
    Gathered(Vec<Vec<u8>>),
}

/// The call being gathered, and how the group stands.
#[derive(Debug)]
struct State {
    /// Sequence number (1-based) of the call being gathered or handed out.
    call: u64,
    /// The operation of that call and the first rank that made it.
    first: Option<(&'static str, usize)>,
    inputs: Vec<Option<Payload>>,
    /// Which ranks made the current call (inputs are taken once all have).
    joined: Vec<bool>,
    arrived: usize,
    output: Option<Arc<Output>>,
    taken: usize,
    /// Ranks whose `train` returned successfully.
    finished: Vec<bool>,
    /// Set once: what every later call returns.
    failure: Option<String>,
}

/// The instances of one job.
pub struct Group {
    size: usize,
    state: Mutex<State>,
    changed: Condvar,
    /// Bumped under `state`'s lock at every `changed` notification, so a
    /// spinning waiter sees a change without taking the lock.
    generation: AtomicU64,
    /// Cancelled when the group fails, so instances still computing stop too.
    abort: CancelToken,
    /// The first reason the job failed, reported once.
    cause: Mutex<Option<RunError>>,
}

impl Group {
    pub fn new(size: usize) -> Arc<Group> {
        let state = State {
            call: 1,
            first: None,
            inputs: (0..size).map(|_| None).collect(),
            joined: vec![false; size],
            arrived: 0,
            output: None,
            taken: 0,
            finished: vec![false; size],
            failure: None,
        };
        Arc::new(Group {
            size,
            state: Mutex::new(state),
            changed: Condvar::new(),
            generation: AtomicU64::new(0),
            abort: CancelToken::default(),
            cause: Mutex::new(None),
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    pub fn abort_token(&self) -> CancelToken {
        self.abort.clone()
    }

    /// Records why `rank` failed; the first cause is the job's, later ones are
    /// consequences (the error every other rank's pending call returned).
    pub fn failed(&self, rank: usize, cause: RunError) {
        let message = format!("instance {rank} of this job failed: {cause}");
        {
            let mut first = self.cause.lock();
            if first.is_none() {
                *first = Some(cause);
            }
        }
        self.fail(&mut self.state.lock(), message);
    }

    /// `rank`'s `train` returned successfully: a call the others made, or
    /// make later, can never be matched.
    pub fn finished(&self, rank: usize) {
        let mut state = self.state.lock();
        state.finished[rank] = true;
        // A rank that made the current call may return while others still take their part.
        if state.arrived > 0 && !state.joined[rank] && state.failure.is_none() {
            let (op, by) = state.first.unwrap_or(("a collective", 0));
            let message = format!("instance {rank} returned from train without making collective call #{} ({op}), which instance {by} made", state.call);
            self.fail_collective(&mut state, message);
        }
    }

    /// The first cause of failure, if the group failed.
    pub fn take_cause(&self) -> Option<RunError> {
        self.cause.lock().take()
    }

    fn fail(&self, state: &mut State, message: String) {
        if state.failure.is_none() {
            state.failure = Some(message);
        }
        self.abort.cancel();
        self.notify();
    }

    /// A failure of the collective calls themselves: it is the job's cause
    /// unless an instance failed before.
    fn fail_collective(&self, state: &mut State, message: String) {
        {
            let mut first = self.cause.lock();
            if first.is_none() {
                *first = Some(RunError::Collective(message.clone()));
            }
        }
        self.fail(state, message);
    }

    /// One rank's call number `call`: waits for the others, returns its part.
    /// `Err` traps the instance (its deadline passed or the job was
    /// cancelled while it waited); `Ok(Err)` is the group's failure.
    fn call(&self, rank: usize, call: u64, payload: Payload, stop: &StopWhen) -> wasmtime::Result<Result<Reply, String>> {
        let mut state = self.state.lock();
        // A fast rank may arrive while the previous call is still being handed out.
        while state.failure.is_none() && state.call != call {
            self.wait(&mut state, stop)?;
        }
        if let Some(failure) = &state.failure {
            return Ok(Err(failure.clone()));
        }
        self.arrive(&mut state, rank, payload);
        loop {
            if let Some(failure) = &state.failure {
                return Ok(Err(failure.clone()));
            }
            if let Some(output) = state.output.clone() {
                state.taken += 1;
                if state.taken == self.size {
                    self.next_call(&mut state);
                }
                return Ok(Ok(reply(&output, rank)));
            }
            self.wait(&mut state, stop)?;
        }
    }

    /// Waits for the state to change (or `WAKE` to pass): spinning for up to
    /// `SPIN` without the lock, then asleep. The caller checks the state again.
    fn wait(&self, state: &mut MutexGuard<'_, State>, stop: &StopWhen) -> wasmtime::Result<()> {
        stop.check().map_err(wasmtime::Error::new)?;
        let seen = self.generation.load(Ordering::Acquire);
        let changed = MutexGuard::unlocked(state, || self.spin_until_changed(seen));
        // Changes are made under the lock, held again here, so none is missed.
        if !changed && self.generation.load(Ordering::Acquire) == seen {
            self.changed.wait_for(state, WAKE);
        }
        stop.check().map_err(wasmtime::Error::new)
    }

    fn spin_until_changed(&self, seen: u64) -> bool {
        let started = Instant::now();
        loop {
            for _ in 0..64 {
                if self.generation.load(Ordering::Acquire) != seen {
                    return true;
                }
                std::hint::spin_loop();
            }
            if started.elapsed() >= SPIN {
                return false;
            }
        }
    }

    /// Wakes every waiter; called with `state`'s lock held.
    fn notify(&self) {
        self.generation.fetch_add(1, Ordering::Release);
        self.changed.notify_all();
    }

    /// Adds `rank`'s input to the current call after checking it matches the
    /// others'; the last rank to arrive computes the output.
    fn arrive(&self, state: &mut State, rank: usize, payload: Payload) {
        let call = state.call;
        let name = payload.name();
        match state.first {
            Some((op, by)) if op != name => {
                let message = format!("collective calls differ between instances: call #{call} is {op} in instance {by} but {name} in instance {rank}");
                return self.fail_collective(state, message);
            }
            Some(_) => {}
            None => state.first = Some((name, rank)),
        }
        if let Some(done) = state.finished.iter().position(|&f| f) {
            let message = format!("instance {done} returned from train without making collective call #{call} ({name}), which instance {rank} made");
            return self.fail_collective(state, message);
        }
        state.inputs[rank] = Some(payload);
        state.joined[rank] = true;
        state.arrived += 1;
        if state.arrived < self.size {
            return;
        }
        let inputs: Vec<Payload> = state.inputs.iter_mut().filter_map(Option::take).collect();
        match combine(inputs) {
            Ok(output) => {
                state.output = Some(Arc::new(output));
                self.notify();
            }
            Err(why) => self.fail_collective(state, format!("collective call #{call} ({name}): {why}")),
        }
    }

    fn next_call(&self, state: &mut State) {
        state.call += 1;
        state.first = None;
        state.joined.iter_mut().for_each(|j| *j = false);
        state.arrived = 0;
        state.output = None;
        state.taken = 0;
        self.notify();
    }
}

/// The call's result from every rank's input, in rank order.
fn combine(inputs: Vec<Payload>) -> Result<Output, String> {
    let mut inputs = inputs.into_iter();
    match inputs.next() {
        Some(Payload::Sum(mut floats, mut integers)) => {
            for (rank, input) in inputs.enumerate().map(|(i, p)| (i + 1, p)) {
                let Payload::Sum(f, i) = input else { return Err("operations differ".into()) };
                if f.len() != floats.len() || i.len() != integers.len() {
                    return Err(format!(
                        "instance 0 passed {} floats and {} integers, instance {rank} {} and {}",
                        floats.len(),
                        integers.len(),
                        f.len(),
                        i.len()
                    ));
                }
                floats.iter_mut().zip(&f).for_each(|(a, b)| *a += b);
                for (at, (a, b)) in integers.iter_mut().zip(&i).enumerate() {
                    *a = a.checked_add(*b).ok_or_else(|| format!("the integer sum at index {at} overflows 64 bits"))?;
                }
            }
            Ok(Output::Sum(floats, integers))
        }
        Some(Payload::Broadcast(bytes)) => Ok(Output::Broadcast(bytes)),
        Some(Payload::Gather(first)) => {
            let mut all = vec![first];
            for input in inputs {
                let Payload::Gather(bytes) = input else { return Err("operations differ".into()) };
                all.push(bytes);
            }
            Ok(Output::Gather(all))
        }
        None => Err("no instance took part".into()),
    }
}

fn reply(output: &Output, rank: usize) -> Reply {
    match output {
        Output::Sum(f, i) => Reply::Sum(f.clone(), i.clone()),
        Output::Broadcast(bytes) => Reply::Bytes(bytes.clone()),
        Output::Gather(all) if rank == 0 => Reply::Gathered(all.clone()),
        Output::Gather(_) => Reply::Gathered(Vec::new()),
    }
}

/// What a job's collective calls cost: the figures behind the README's
/// scaling estimate, reported with every job trained by several instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CollectiveCost {
    /// Calls each instance made (every instance makes the same calls).
    pub calls: u64,
    /// Bytes all instances handed in, together.
    pub bytes: u64,
    /// Seconds all instances spent inside the calls (waiting for each other
    /// and combining), together.
    pub wait_seconds: f64,
}

impl CollectiveCost {
    /// The job's cost from its instances' own: calls are one instance's count.
    pub fn of_team(members: impl IntoIterator<Item = CollectiveCost>) -> CollectiveCost {
        members.into_iter().fold(CollectiveCost::default(), |team, one| CollectiveCost {
            calls: team.calls.max(one.calls),
            bytes: team.bytes + one.bytes,
            wait_seconds: team.wait_seconds + one.wait_seconds,
        })
    }
}

/// One instance's membership: its rank and the calls it has made. The cost
/// is the instance's own (no lock: each store has one member).
pub struct Member {
    group: Arc<Group>,
    rank: usize,
    cost: CollectiveCost,
}

impl Member {
    pub fn new(group: Arc<Group>, rank: usize) -> Member {
        Member { group, rank, cost: CollectiveCost::default() }
    }

    pub fn size(&self) -> usize {
        self.group.size()
    }

    /// This instance's calls so far.
    pub fn cost(&self) -> CollectiveCost {
        self.cost
    }

    fn call(&mut self, payload: Payload, stop: &StopWhen) -> wasmtime::Result<Result<Reply, String>> {
        let started = Instant::now();
        self.cost.calls += 1;
        self.cost.bytes += payload.bytes();
        let reply = self.group.call(self.rank, self.cost.calls, payload, stop);
        self.cost.wait_seconds += started.elapsed().as_secs_f64();
        reply
    }
}

/// Alone (`team` is None: describe, predict, a job of one instance), every
/// call returns at once with what a group of one would return.
impl collectives::Host for PluginState {
    fn size(&mut self) -> wasmtime::Result<u32> {
        Ok(self.team.as_ref().map_or(1, |m| m.group.size() as u32))
    }

    fn rank(&mut self) -> wasmtime::Result<u32> {
        Ok(self.team.as_ref().map_or(0, |m| m.rank as u32))
    }

    fn sum(&mut self, floats: Vec<f64>, integers: Vec<i64>) -> wasmtime::Result<Result<(Vec<f64>, Vec<i64>), String>> {
        let Some(member) = self.team.as_mut() else { return Ok(Ok((floats, integers))) };
        Ok(member.call(Payload::Sum(floats, integers), &self.stop)?.map(|reply| match reply {
            Reply::Sum(f, i) => (f, i),
            Reply::Bytes(_) | Reply::Gathered(_) => (Vec::new(), Vec::new()),
        }))
    }

    fn broadcast(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let Some(member) = self.team.as_mut() else { return Ok(Ok(bytes)) };
        Ok(member.call(Payload::Broadcast(bytes), &self.stop)?.map(|reply| match reply {
            Reply::Bytes(bytes) => bytes,
            Reply::Sum(..) | Reply::Gathered(_) => Vec::new(),
        }))
    }

    fn gather(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Result<Vec<Vec<u8>>, String>> {
        let Some(member) = self.team.as_mut() else { return Ok(Ok(vec![bytes])) };
        Ok(member.call(Payload::Gather(bytes), &self.stop)?.map(|reply| match reply {
            Reply::Gathered(all) => all,
            Reply::Sum(..) | Reply::Bytes(_) => Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn stop() -> StopWhen {
        StopWhen::new(Instant::now(), 30.0, CancelToken::default())
    }

    fn run(size: usize, each: impl Fn(usize, &mut Member, &StopWhen) -> Result<Reply, String> + Sync) -> Vec<Result<Reply, String>> {
        let group = Group::new(size);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..size)
                .map(|rank| {
                    let (group, each) = (group.clone(), &each);
                    s.spawn(move || each(rank, &mut Member::new(group, rank), &stop()))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    #[test]
    fn sums_in_rank_order_and_gathers_to_rank_zero() {
        let out = run(3, |rank, m, stop| {
            let r = rank as f64;
            let Reply::Sum(f, i) = m.call(Payload::Sum(vec![r, 1.0], vec![rank as i64]), stop).unwrap()? else { panic!() };
            assert_eq!((f, i), (vec![3.0, 3.0], vec![3]));
            m.call(Payload::Gather(vec![rank as u8]), stop).unwrap()
        });
        assert!(matches!(&out[0], Ok(Reply::Gathered(all)) if all == &vec![vec![0], vec![1], vec![2]]));
        assert!(matches!(&out[1], Ok(Reply::Gathered(all)) if all.is_empty()));
    }

    #[test]
    fn different_operations_fail_every_rank_with_both_named() {
        let out = run(2, |rank, m, stop| {
            let payload = if rank == 0 { Payload::Broadcast(vec![1]) } else { Payload::Gather(vec![2]) };
            m.call(payload, stop).unwrap()
        });
        for reply in out {
            let Err(why) = reply else { panic!("a mismatched call succeeded") };
            assert!(why.contains("call #1") && why.contains("broadcast") && why.contains("gather"), "{why}");
        }
    }

    #[test]
    fn a_failed_rank_releases_the_waiting_ones_at_once() {
        let group = Group::new(2);
        let waiting = {
            let group = group.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let reply = Member::new(group, 0).call(Payload::Sum(vec![1.0], vec![]), &stop()).unwrap();
                (reply.err(), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        group.failed(1, RunError::Failed("boom".into()));
        let (why, waited) = waiting.join().unwrap();
        assert!(why.unwrap().contains("boom"));
        assert!(waited < Duration::from_secs(1), "{waited:?}");
        assert!(matches!(group.take_cause(), Some(RunError::Failed(w)) if w == "boom"));
    }
}
