//! The pipeline's learners: each retrained model's training buffer and shadow scoring, fed by the
//! released events and steered by the trainer's commands.

use std::collections::BTreeMap;

use super::Pipeline;
use crate::contract::event::Event;
use crate::intake::policy::ModelPolicy;
use crate::intake::publish::publish;
use crate::retraining::learn::LearnControl;
use crate::retraining::learn::Learner;
use crate::retraining::learn::ReferenceRow;

impl Pipeline {
    /// Feeds an accepted event to its model's learner, if the model is retrained.
    pub(super) fn learn(&mut self, ev: &Event<'_>) {
        let model = ev.model.as_ref();
        if let Some(l) = self.learners.get_mut(model) {
            if l.observe(ev) {
                self.review_disagreement(ev);
            }
            return;
        }
        let Some((cfg, task)) = self.policy.learn.get(model) else {
            return;
        };
        let positive = self.policy.positive.get(model).map_or("1", String::as_str);
        let mut l = Learner::new(cfg.clone(), *task, positive);
        let disagreed = l.observe(ev);
        self.learners.insert(model.to_owned(), l);
        if disagreed {
            self.review_disagreement(ev);
        }
    }

    /// A shadowed challenger disagreed with the served answer: the prediction weighs up in its
    /// model's review queue.
    fn review_disagreement(&mut self, ev: &Event<'_>) {
        let Some(global) = self.monitoring.as_ref() else {
            return;
        };
        let s = self.policy.monitor_settings(ev.model.as_ref(), global);
        if let Some(w) = self.monitors.get_mut(ev.model.as_ref()) {
            w.monitor.review_disagreement(ev, s);
        }
    }

    /// Replaces the learners with restored ones (start-up, or rolling back to the last
    /// checkpoint when partitions are revoked). A shadow run that goes on keeps its challenger
    /// model (checkpoints do not hold it).
    pub fn restore_learners(&mut self, mut learners: BTreeMap<String, Learner>) {
        self.flush();
        for (model, l) in &mut learners {
            let Some(old) = self.learners.get(model).and_then(|o| o.shadow.as_ref()) else {
                continue;
            };
            if let Some(s) = l.shadow.as_mut()
                && s.kind == old.kind
                && s.version == old.version
                && s.model.is_none()
            {
                s.model = old.model.clone();
            }
        }
        self.learners = learners;
    }

    /// Which models are accepted, and their settings.
    pub fn policy(&self) -> &ModelPolicy {
        &self.policy
    }

    /// A model's learner, creating an empty one for a retrained model not seen yet.
    fn learner(&mut self, model: &str) -> Option<&mut Learner> {
        if !self.learners.contains_key(model) {
            let (cfg, task) = self.policy.learn.get(model)?;
            let positive = self.policy.positive.get(model).map_or("1", String::as_str);
            self.learners
                .insert(model.to_owned(), Learner::new(cfg.clone(), *task, positive));
        }
        self.learners.get_mut(model)
    }

    /// Applies a command of the trainer (see [`crate::retraining::learn::LearnControl`]).
    pub fn learn_control(&mut self, c: LearnControl) {
        use crate::retraining::learn::LearnControl as C;
        // The learners answer for every event released so far.
        self.flush();
        match c {
            C::Examples(model, reply) => {
                let r = self.learner(&model).map(|l| (l.examples(), l.labels_total));
                let _ = reply.send(r);
            }
            C::SetShadow {
                model,
                kind,
                version,
                challenger,
                policy,
            } => {
                if let Some(l) = self.learner(&model) {
                    l.set_shadow(kind, version, challenger, &policy);
                }
            }
            C::ClearShadow(model) => {
                if let Some(l) = self.learners.get_mut(&model) {
                    l.clear_shadow();
                }
            }
            C::Shadow(model, reply) => {
                let r = self.learners.get(&model).and_then(|l| l.shadow.clone());
                let _ = reply.send(r.map(|mut s| {
                    s.model = None;
                    s
                }));
            }
            C::SetReference(model, rows, reply) => {
                let _ = reply.send(self.set_reference(&model, &rows));
            }
            C::Status(model, reply) => {
                let _ = reply.send(self.learners.get(&model).map(Learner::status));
            }
            C::Labels(model, reply) => {
                let _ = reply.send(self.learners.get(&model).map(|l| l.labels_total));
            }
        }
    }

    /// Rebuilds a model's drift reference from training data (after a promotion): the features,
    /// and what the new live model predicts on them; and starts its error-stream detection afresh
    /// (the new model's errors are another stream). Returns how many rows were used.
    fn set_reference(&mut self, model: &str, rows: &[ReferenceRow]) -> usize {
        self.flush();
        let Some(global) = self.monitoring.as_ref() else {
            return 0;
        };
        let settings = self.policy.monitor_settings(model, global);
        let Some(m) = self.monitors.get_mut(model).map(|w| &mut w.monitor) else {
            return 0;
        };
        let ts = chrono::Utc::now();
        let events = rows.iter().map(|r| r.event(model, ts));
        let n = m.set_reference(events, settings);
        m.reset_concept(settings);
        publish(&self.metrics, model, m);
        self.board.set(model, m.samples(settings));
        tracing::info!(
            model,
            rows = n,
            "drift reference rebuilt from the new model's training data"
        );
        n
    }
}
