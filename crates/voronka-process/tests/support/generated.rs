//! A generated definition of any size, shared by the data-driven tests and
//! the validation bench so both measure and check the same shape.

/// A linear funnel of `n` stages with requirements, plus won and lost.
pub fn generated_definition(n: usize) -> String {
    let mut s = String::from(
        "process: generated\nversion: 1\ntitle: { ru: Сгенерированный, en: Generated }\n\
         dictionaries:\n  reason: [price, competitor, other]\n  call_outcome: [reached, no_answer]\n\
         fields:\n  reason: { type: dictionary, dictionary: reason, title: { ru: Причина, en: Reason } }\n\
         activity_outcomes:\n  call: call_outcome\nstages:\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "  - id: s{i}\n    title: {{ ru: Этап {i}, en: Stage {i} }}\n    probability: {}\n    sla: {}d\n",
            i * 100 / n,
            1 + i % 9
        ));
        if i > 0 {
            s.push_str("    requires:\n      fields: [company, amount]\n      conditions: [{ field: amount, op: gt, value: 0 }]\n      activities: [{ type: call, status: done, outcome: reached }]\n");
        }
    }
    s.push_str(
        "  - { id: won, title: { ru: Выиграна, en: Won }, probability: 100, terminal: true }\n",
    );
    s.push_str("  - id: lost\n    title: { ru: Проиграна, en: Lost }\n    probability: 0\n    terminal: true\n    requires: { fields: [reason] }\ntransitions:\n");
    for i in 0..n {
        let next = if i + 1 == n {
            "won".to_string()
        } else {
            format!("s{}", i + 1)
        };
        s.push_str(&format!("  - {{ from: s{i}, to: [{next}, lost] }}\n"));
    }
    s.push_str("automations:\n  - { on: { idle: 7d }, notify: { to: responsible_head, message: { ru: Стоит, en: Idle } } }\n");
    s
}
