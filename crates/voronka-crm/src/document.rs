//! Documents of a deal: proposals, contracts, invoices and acts, each on its
//! own stream `document-<id>`, with their lines, exact totals and (for
//! invoices) payments.
//!
//! Totals are computed here, in integer minor units with half-up rounding,
//! once per line and then summed, so the numbers on a printed invoice and in
//! reports always agree: a line's net is `quantity * price * (100 -
//! discount) / 100` rounded to the kopeck, its VAT `net * rate / 100` rounded
//! to the kopeck. Prices are VAT-exclusive; one currency per document.
//!
//! Statuses: a proposal, a contract and an act go draft -> sent -> signed; an
//! invoice goes draft -> issued -> paid, and becomes paid only by payments
//! reaching its gross total. Anything not paid may be cancelled. Lines change
//! only in draft.
//!
//! Creating a document on a deal is also a command on the deal's process (the
//! application asks the process first); that is not done here.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use voronka_core::{Currency, Money};
use voronka_process::DocumentKind;

use crate::dictionaries::names;
use crate::{
    Aggregate, Context, CrmError, DealId, DocumentId, FieldError, MoneyInput, ProductId, UserId,
};

/// The most lines one document may have.
pub const MAX_LINES: usize = 500;
/// The VAT rates a line may have, in percent: 22 is the standard rate from
/// 2026 (20 before, still on older documents), 10 the reduced one, 5 and 7
/// those of the simplified tax regime, 0 exports.
pub const ALLOWED_VAT_RATES: [u8; 6] = [0, 5, 7, 10, 20, 22];
/// The longest document number, in characters.
pub const MAX_NUMBER_CHARS: usize = 64;
/// The longest title or line name, in characters.
pub const MAX_NAME_CHARS: usize = 300;
/// The longest payment reference, in characters.
pub const MAX_REFERENCE_CHARS: usize = 300;
/// The largest quantity of one line, in whole units.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// A document's status as the CRM keeps it. Invoices are `issued` where the
/// other kinds are `sent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    Draft,
    Sent,
    /// Accepted by the client (a proposal) or signed by both (a contract, an act).
    Signed,
    Issued,
    Paid,
    Cancelled,
}

impl DocumentStatus {
    pub const ALL: [DocumentStatus; 6] = [
        DocumentStatus::Draft,
        DocumentStatus::Sent,
        DocumentStatus::Signed,
        DocumentStatus::Issued,
        DocumentStatus::Paid,
        DocumentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Draft => "draft",
            DocumentStatus::Sent => "sent",
            DocumentStatus::Signed => "signed",
            DocumentStatus::Issued => "issued",
            DocumentStatus::Paid => "paid",
            DocumentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The status the process engine's guards see.
    pub fn to_process(self) -> voronka_process::DocumentStatus {
        use voronka_process::DocumentStatus as Process;
        match self {
            DocumentStatus::Draft => Process::Draft,
            DocumentStatus::Sent | DocumentStatus::Issued => Process::Sent,
            DocumentStatus::Signed => Process::Signed,
            DocumentStatus::Paid => Process::Paid,
            DocumentStatus::Cancelled => Process::Cancelled,
        }
    }
}

/// Whether a document of `kind` may go from `from` to `to` by
/// `ChangeStatus` (an invoice's `sent` must already be read as `issued`).
pub fn transition_allowed(kind: DocumentKind, from: DocumentStatus, to: DocumentStatus) -> bool {
    use DocumentStatus::*;
    match (from, to) {
        (Paid | Cancelled, _) => false,
        (_, Cancelled) => true,
        _ => match kind {
            DocumentKind::Invoice => matches!((from, to), (Draft, Issued)),
            DocumentKind::Proposal | DocumentKind::Contract | DocumentKind::Act => {
                matches!((from, to), (Draft, Sent) | (Sent, Signed))
            }
        },
    }
}

/// One line of a document, with its computed amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentLine {
    #[schema(value_type = Option<String>, format = Uuid)]
    pub product: Option<ProductId>,
    pub name: String,
    /// Thousandths of a unit: 1500 is 1.5.
    pub quantity_milli: i64,
    /// A value of the `product_unit` dictionary.
    pub unit: Option<String>,
    /// VAT-exclusive price of one unit.
    #[schema(value_type = Object)]
    pub price: Money,
    /// Percent: 0, 10 or 20.
    pub vat_rate: u8,
    /// Percent, 0..=100.
    pub discount_percent: u8,
    #[schema(value_type = Object)]
    pub net: Money,
    #[schema(value_type = Object)]
    pub vat: Money,
    #[schema(value_type = Object)]
    pub gross: Money,
}

/// A document's sums (each the sum of its lines').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Totals {
    #[schema(value_type = Object)]
    pub net: Money,
    #[schema(value_type = Object)]
    pub vat: Money,
    #[schema(value_type = Object)]
    pub gross: Money,
}

impl Totals {
    pub fn zero(currency: Currency) -> Self {
        Self {
            net: Money::zero(currency),
            vat: Money::zero(currency),
            gross: Money::zero(currency),
        }
    }
}

/// One payment of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    /// Chosen by the client or the bank import; a repeat is ignored.
    pub payment_id: uuid::Uuid,
    #[schema(value_type = Object)]
    pub amount: Money,
    pub paid_on: NaiveDate,
    pub reference: Option<String>,
}

/// A document as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DocumentRecord {
    #[schema(value_type = String, format = Uuid)]
    pub id: DocumentId,
    #[schema(value_type = String)]
    pub kind: DocumentKind,
    #[schema(value_type = String, format = Uuid)]
    pub deal: DealId,
    pub number: String,
    pub title: Option<String>,
    #[schema(value_type = String)]
    pub currency: Currency,
    pub lines: Vec<DocumentLine>,
    pub totals: Totals,
    pub status: DocumentStatus,
    pub payments: Vec<Payment>,
    /// The sum of the payments.
    #[schema(value_type = Object)]
    pub paid: Money,
    /// How much the payments exceed the gross total (zero when they do not).
    #[schema(value_type = Object)]
    pub overpaid: Money,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    #[schema(value_type = String, format = Uuid)]
    pub responsible: UserId,
}

impl DocumentRecord {
    fn refresh_overpaid(&mut self) {
        let over = self
            .paid
            .minor
            .saturating_sub(self.totals.gross.minor)
            .max(0);
        self.overpaid = Money::new(over, self.currency);
    }
}

/// A document's content as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    #[serde(default)]
    pub title: Option<String>,
    /// ISO 4217; defaults to the first line's currency, else RUB.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub lines: Vec<DocumentLineInput>,
}

/// One line as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentLineInput {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub product: Option<ProductId>,
    #[serde(default)]
    pub name: String,
    /// A decimal with at most three places: `2`, `1.5`, `0,125`.
    #[serde(default)]
    pub quantity: String,
    /// A value of the `product_unit` dictionary.
    #[serde(default)]
    pub unit: Option<String>,
    /// VAT-exclusive price of one unit.
    pub price: MoneyInput,
    /// Percent: 0, 10 or 20.
    #[serde(default)]
    pub vat_rate: Option<i64>,
    /// Percent, 0..=100.
    #[serde(default)]
    pub discount_percent: Option<i64>,
}

/// What may be done to a document.
#[derive(Debug, Clone)]
pub enum DocumentCommand {
    /// `number` is chosen by the application (see
    /// `WorkIndex::next_document_number`).
    Create {
        id: DocumentId,
        kind: DocumentKind,
        deal: DealId,
        number: String,
        input: DocumentInput,
        responsible: UserId,
    },
    /// For an invoice `sent` means `issued`; `paid` comes only from payments.
    ChangeStatus {
        to: DocumentStatus,
    },
    /// Only in draft.
    ReplaceLines {
        lines: Vec<DocumentLineInput>,
    },
    /// Only on an issued invoice; a repeated `payment_id` changes nothing.
    RegisterPayment {
        payment_id: uuid::Uuid,
        amount: MoneyInput,
        paid_on: NaiveDate,
        reference: Option<String>,
    },
    Reassign {
        to: UserId,
    },
}

/// Everything that happens to a document. The serde tag is the stored event
/// type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DocumentEvent {
    DocumentCreated {
        id: DocumentId,
        kind: DocumentKind,
        deal: DealId,
        number: String,
        title: Option<String>,
        currency: Currency,
        lines: Vec<DocumentLine>,
        totals: Totals,
        responsible: UserId,
        created_by: UserId,
    },
    DocumentLinesReplaced {
        lines: Vec<DocumentLine>,
        totals: Totals,
    },
    DocumentStatusChanged {
        from: DocumentStatus,
        to: DocumentStatus,
    },
    DocumentPaymentRegistered {
        payment_id: uuid::Uuid,
        amount: Money,
        paid_on: NaiveDate,
        reference: Option<String>,
        /// The sum of every payment so far, this one included.
        paid_total: Money,
    },
    DocumentReassigned {
        from: UserId,
        to: UserId,
    },
}

/// The document aggregate. Its state is `None` until created.
pub struct Document;

impl Aggregate for Document {
    const CATEGORY: &'static str = "document";
    type State = Option<DocumentRecord>;
    type Event = DocumentEvent;
    type Command = DocumentCommand;

    fn event_type(event: &DocumentEvent) -> &'static str {
        match event {
            DocumentEvent::DocumentCreated { .. } => "document_created",
            DocumentEvent::DocumentLinesReplaced { .. } => "document_lines_replaced",
            DocumentEvent::DocumentStatusChanged { .. } => "document_status_changed",
            DocumentEvent::DocumentPaymentRegistered { .. } => "document_payment_registered",
            DocumentEvent::DocumentReassigned { .. } => "document_reassigned",
        }
    }

    fn apply(state: &mut Option<DocumentRecord>, event: &DocumentEvent) {
        match event {
            DocumentEvent::DocumentCreated {
                id,
                kind,
                deal,
                number,
                title,
                currency,
                lines,
                totals,
                responsible,
                created_by,
            } => {
                *state = Some(DocumentRecord {
                    id: *id,
                    kind: *kind,
                    deal: *deal,
                    number: number.clone(),
                    title: title.clone(),
                    currency: *currency,
                    lines: lines.clone(),
                    totals: *totals,
                    status: DocumentStatus::Draft,
                    payments: Vec::new(),
                    paid: Money::zero(*currency),
                    overpaid: Money::zero(*currency),
                    created_by: *created_by,
                    responsible: *responsible,
                });
            }
            DocumentEvent::DocumentLinesReplaced { lines, totals } => {
                if let Some(record) = state {
                    record.lines = lines.clone();
                    record.totals = *totals;
                    record.refresh_overpaid();
                }
            }
            DocumentEvent::DocumentStatusChanged { to, .. } => {
                if let Some(record) = state {
                    record.status = *to;
                }
            }
            DocumentEvent::DocumentPaymentRegistered {
                payment_id,
                amount,
                paid_on,
                reference,
                paid_total,
            } => {
                if let Some(record) = state {
                    record.payments.push(Payment {
                        payment_id: *payment_id,
                        amount: *amount,
                        paid_on: *paid_on,
                        reference: reference.clone(),
                    });
                    record.paid = *paid_total;
                    record.refresh_overpaid();
                }
            }
            DocumentEvent::DocumentReassigned { to, .. } => {
                if let Some(record) = state {
                    record.responsible = *to;
                }
            }
        }
    }

    fn decide(
        state: &Option<DocumentRecord>,
        command: &DocumentCommand,
        context: &Context<'_>,
    ) -> Result<Vec<DocumentEvent>, CrmError> {
        match command {
            DocumentCommand::Create {
                id,
                kind,
                deal,
                number,
                input,
                responsible,
            } => {
                if state.is_some() {
                    return Err(CrmError::AlreadyExists);
                }
                let mut errors = Vec::new();
                let number = required_text(number, "number", MAX_NUMBER_CHARS, &mut errors);
                let title = optional_text(&input.title, "title", MAX_NAME_CHARS, &mut errors);
                let currency = document_currency(input, &mut errors);
                let computed = compute_lines(&input.lines, currency, context, &mut errors);
                CrmError::check(errors)?;
                let (Some(number), Some((lines, totals))) = (number, computed) else {
                    return Err(CrmError::Invalid(Vec::new()));
                };
                Ok(vec![DocumentEvent::DocumentCreated {
                    id: *id,
                    kind: *kind,
                    deal: *deal,
                    number,
                    title,
                    currency,
                    lines,
                    totals,
                    responsible: *responsible,
                    created_by: context.actor,
                }])
            }
            DocumentCommand::ChangeStatus { to } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                let to = match (record.kind, *to) {
                    (DocumentKind::Invoice, DocumentStatus::Sent) => DocumentStatus::Issued,
                    (_, to) => to,
                };
                if to == record.status {
                    return Ok(Vec::new());
                }
                if !transition_allowed(record.kind, record.status, to) {
                    let why = if record.kind == DocumentKind::Invoice && to == DocumentStatus::Paid
                    {
                        " (an invoice becomes paid when its payments reach the total)"
                    } else {
                        ""
                    };
                    return Err(CrmError::not_allowed(
                        "status_transition_not_allowed",
                        format!(
                            "a {} cannot go from {} to {}{why}",
                            record.kind.as_str(),
                            record.status.as_str(),
                            to.as_str()
                        ),
                    ));
                }
                Ok(vec![DocumentEvent::DocumentStatusChanged {
                    from: record.status,
                    to,
                }])
            }
            DocumentCommand::ReplaceLines { lines } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                if record.status != DocumentStatus::Draft {
                    return Err(CrmError::not_allowed(
                        "document_not_draft",
                        format!(
                            "lines change only in draft; the document is {}",
                            record.status.as_str()
                        ),
                    ));
                }
                let mut errors = Vec::new();
                let computed = compute_lines(lines, record.currency, context, &mut errors);
                CrmError::check(errors)?;
                let Some((lines, totals)) = computed else {
                    return Err(CrmError::Invalid(Vec::new()));
                };
                if lines == record.lines {
                    return Ok(Vec::new());
                }
                Ok(vec![DocumentEvent::DocumentLinesReplaced { lines, totals }])
            }
            DocumentCommand::RegisterPayment {
                payment_id,
                amount,
                paid_on,
                reference,
            } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                if record.payments.iter().any(|p| p.payment_id == *payment_id) {
                    return Ok(Vec::new());
                }
                if record.kind != DocumentKind::Invoice {
                    return Err(CrmError::not_allowed(
                        "payment_not_allowed",
                        format!(
                            "a {} takes no payments; only invoices do",
                            record.kind.as_str()
                        ),
                    ));
                }
                if record.status != DocumentStatus::Issued {
                    return Err(CrmError::not_allowed(
                        "payment_not_allowed",
                        format!(
                            "an invoice takes payments while issued; this one is {}",
                            record.status.as_str()
                        ),
                    ));
                }
                let mut errors = Vec::new();
                let amount = match amount.parse("amount") {
                    Err(error) => {
                        errors.push(error);
                        None
                    }
                    Ok(money) if money.currency != record.currency => {
                        errors.push(FieldError::new(
                            "amount.currency",
                            "currency_mismatch",
                            format!("the invoice is in {}", record.currency),
                        ));
                        None
                    }
                    Ok(money) if money.minor <= 0 => {
                        errors.push(FieldError::new(
                            "amount",
                            "amount_not_positive",
                            "a payment is more than zero",
                        ));
                        None
                    }
                    Ok(money) => Some(money),
                };
                let reference =
                    optional_text(reference, "reference", MAX_REFERENCE_CHARS, &mut errors);
                let paid_total = amount.and_then(|amount| {
                    let total = record.paid.checked_add(amount).ok();
                    if total.is_none() {
                        errors.push(overflow("amount"));
                    }
                    total
                });
                CrmError::check(errors)?;
                let (Some(amount), Some(paid_total)) = (amount, paid_total) else {
                    return Err(CrmError::Invalid(Vec::new()));
                };
                let mut events = vec![DocumentEvent::DocumentPaymentRegistered {
                    payment_id: *payment_id,
                    amount,
                    paid_on: *paid_on,
                    reference,
                    paid_total,
                }];
                if paid_total.minor >= record.totals.gross.minor {
                    events.push(DocumentEvent::DocumentStatusChanged {
                        from: record.status,
                        to: DocumentStatus::Paid,
                    });
                }
                Ok(events)
            }
            DocumentCommand::Reassign { to } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                if record.responsible == *to {
                    return Ok(Vec::new());
                }
                Ok(vec![DocumentEvent::DocumentReassigned {
                    from: record.responsible,
                    to: *to,
                }])
            }
        }
    }
}

/// The document's currency: the one asked for, else the first line's, else RUB.
fn document_currency(input: &DocumentInput, errors: &mut Vec<FieldError>) -> Currency {
    if let Some(code) = input
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        return Currency::parse(code).unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "currency",
                "invalid_currency",
                "the currency is three upper-case letters, e.g. RUB",
            ));
            Currency::RUB
        });
    }
    input
        .lines
        .first()
        .and_then(|line| line.price.parse("price").ok())
        .map_or(Currency::RUB, |money| money.currency)
}

/// Checks and computes every line; `None` when an error was reported.
fn compute_lines(
    inputs: &[DocumentLineInput],
    currency: Currency,
    context: &Context<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<(Vec<DocumentLine>, Totals)> {
    if inputs.len() > MAX_LINES {
        errors.push(FieldError::new(
            "lines",
            "too_many_lines",
            format!("a document has at most {MAX_LINES} lines"),
        ));
        return None;
    }
    let errors_before = errors.len();
    let mut lines = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        if let Some(line) = compute_line(index, input, currency, context, errors) {
            lines.push(line);
        }
    }
    if errors.len() > errors_before {
        return None;
    }
    let mut totals = Totals::zero(currency);
    for line in &lines {
        let sum = |a: Money, b: Money| a.checked_add(b).ok();
        match (
            sum(totals.net, line.net),
            sum(totals.vat, line.vat),
            sum(totals.gross, line.gross),
        ) {
            (Some(net), Some(vat), Some(gross)) => totals = Totals { net, vat, gross },
            _ => {
                errors.push(overflow("lines"));
                return None;
            }
        }
    }
    Some((lines, totals))
}

fn compute_line(
    index: usize,
    input: &DocumentLineInput,
    currency: Currency,
    context: &Context<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<DocumentLine> {
    let field = |name: &str| format!("lines[{index}].{name}");
    let errors_before = errors.len();
    let name = required_text(&input.name, &field("name"), MAX_NAME_CHARS, errors);
    let quantity_milli = match parse_quantity(&input.quantity) {
        Ok(quantity) => Some(quantity),
        Err(QuantityError::Missing) => {
            errors.push(FieldError::required(field("quantity")));
            None
        }
        Err(QuantityError::NotPositive) => {
            errors.push(FieldError::new(
                field("quantity"),
                "quantity_not_positive",
                "the quantity is more than zero",
            ));
            None
        }
        Err(QuantityError::Invalid) => {
            errors.push(FieldError::new(
                field("quantity"),
                "invalid_quantity",
                format!(
                    "the quantity is a decimal number with at most three places, up to {MAX_QUANTITY}"
                ),
            ));
            None
        }
    };
    let unit = optional_text(&input.unit, &field("unit"), MAX_NAME_CHARS, errors);
    if let Some(unit) = &unit {
        if let Err(error) = context
            .dictionaries
            .check(names::PRODUCT_UNIT, unit, &field("unit"))
        {
            errors.push(error);
        }
    }
    let price = match input.price.parse(&field("price")) {
        Err(error) => {
            errors.push(error);
            None
        }
        Ok(price) if price.currency != currency => {
            errors.push(FieldError::new(
                field("price.currency"),
                "currency_mismatch",
                format!("every line of the document is in {currency}"),
            ));
            None
        }
        Ok(price) if price.minor < 0 => {
            errors.push(FieldError::new(
                field("price"),
                "negative_price",
                "a price is not negative",
            ));
            None
        }
        Ok(price) => Some(price),
    };
    let vat_rate = match input.vat_rate {
        None => {
            errors.push(FieldError::required(field("vat_rate")));
            None
        }
        Some(rate) => {
            let rate = u8::try_from(rate)
                .ok()
                .filter(|rate| ALLOWED_VAT_RATES.contains(rate));
            if rate.is_none() {
                errors.push(FieldError::new(
                    field("vat_rate"),
                    "vat_rate_not_allowed",
                    "the VAT rate is 0, 10 or 20 (percent)",
                ));
            }
            rate
        }
    };
    let discount_percent = match input.discount_percent {
        None => Some(0),
        Some(discount) => {
            let discount = u8::try_from(discount).ok().filter(|d| *d <= 100);
            if discount.is_none() {
                errors.push(FieldError::new(
                    field("discount_percent"),
                    "discount_out_of_range",
                    "the discount is a whole percent from 0 to 100",
                ));
            }
            discount
        }
    };
    if errors.len() > errors_before {
        return None;
    }
    let (Some(name), Some(quantity_milli), Some(price), Some(vat_rate), Some(discount_percent)) =
        (name, quantity_milli, price, vat_rate, discount_percent)
    else {
        return None;
    };
    let Some((net, vat, gross)) =
        line_amounts(quantity_milli, price.minor, discount_percent, vat_rate)
    else {
        errors.push(overflow(&format!("lines[{index}]")));
        return None;
    };
    Some(DocumentLine {
        product: input.product,
        name,
        quantity_milli,
        unit,
        price,
        vat_rate,
        discount_percent,
        net: Money::new(net, currency),
        vat: Money::new(vat, currency),
        gross: Money::new(gross, currency),
    })
}

/// A line's net, VAT and gross in minor units, each rounded half up to the
/// minor unit; `None` when a value does not fit.
pub fn line_amounts(
    quantity_milli: i64,
    price_minor: i64,
    discount_percent: u8,
    vat_rate: u8,
) -> Option<(i64, i64, i64)> {
    let kept_percent = 100_i128.checked_sub(i128::from(discount_percent))?;
    let net_scaled = i128::from(quantity_milli)
        .checked_mul(i128::from(price_minor))?
        .checked_mul(kept_percent)?;
    let net = round_half_up(net_scaled, 1000 * 100)?;
    let vat = round_half_up(net.checked_mul(i128::from(vat_rate))?, 100)?;
    let gross = net.checked_add(vat)?;
    Some((
        i64::try_from(net).ok()?,
        i64::try_from(vat).ok()?,
        i64::try_from(gross).ok()?,
    ))
}

/// `value / divisor` rounded half away from zero (half up for the
/// non-negative values lines have).
fn round_half_up(value: i128, divisor: i128) -> Option<i128> {
    let half = divisor / 2;
    let magnitude = value.checked_abs()?.checked_add(half)? / divisor;
    Some(if value < 0 { -magnitude } else { magnitude })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantityError {
    Missing,
    Invalid,
    NotPositive,
}

/// A quantity in thousandths: `1,5` -> 1500. Spaces between digit groups
/// and a comma as the decimal mark are accepted.
fn parse_quantity(text: &str) -> Result<i64, QuantityError> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '_'))
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    if cleaned.is_empty() {
        return Err(QuantityError::Missing);
    }
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 3 {
        return Err(QuantityError::Invalid);
    }
    let whole = whole.parse::<i64>().map_err(|_| QuantityError::Invalid)?;
    if whole > MAX_QUANTITY {
        return Err(QuantityError::Invalid);
    }
    let mut fraction_milli: i64 = 0;
    for (place, digit) in fraction.bytes().enumerate() {
        let scale = [100, 10, 1].get(place).copied().unwrap_or(0);
        fraction_milli += i64::from(digit - b'0') * scale;
    }
    let milli = whole * 1000 + fraction_milli;
    if negative || milli == 0 {
        return Err(QuantityError::NotPositive);
    }
    Ok(milli)
}

fn overflow(field: &str) -> FieldError {
    FieldError::new(
        field,
        "amount_overflow",
        "the amounts are too large to compute",
    )
}

fn required_text(
    value: &str,
    field: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = value.trim();
    if text.is_empty() {
        errors.push(FieldError::required(field));
        return None;
    }
    if text.chars().count() > max_chars {
        errors.push(too_long(field, max_chars));
        return None;
    }
    Some(text.to_string())
}

fn optional_text(
    value: &Option<String>,
    field: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = value.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    if text.chars().count() > max_chars {
        errors.push(too_long(field, max_chars));
        return None;
    }
    Some(text.to_string())
}

fn too_long(field: &str, max_chars: usize) -> FieldError {
    FieldError::new(
        field,
        "too_long",
        format!("`{field}` is at most {max_chars} characters"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(7))
    }

    #[test]
    fn every_event_type_is_its_serde_tag() {
        let rub = Money::rub(1);
        let events = [
            DocumentEvent::DocumentCreated {
                id: DocumentId::from_uuid(uuid::Uuid::from_u128(1)),
                kind: DocumentKind::Invoice,
                deal: DealId::from_uuid(uuid::Uuid::from_u128(2)),
                number: "INV-2026-000001".into(),
                title: None,
                currency: Currency::RUB,
                lines: Vec::new(),
                totals: Totals::zero(Currency::RUB),
                responsible: user(),
                created_by: user(),
            },
            DocumentEvent::DocumentLinesReplaced {
                lines: Vec::new(),
                totals: Totals::zero(Currency::RUB),
            },
            DocumentEvent::DocumentStatusChanged {
                from: DocumentStatus::Draft,
                to: DocumentStatus::Issued,
            },
            DocumentEvent::DocumentPaymentRegistered {
                payment_id: uuid::Uuid::from_u128(3),
                amount: rub,
                paid_on: NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                reference: None,
                paid_total: rub,
            },
            DocumentEvent::DocumentReassigned {
                from: user(),
                to: user(),
            },
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], Document::event_type(&event), "{json}");
            let back: DocumentEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn quantities_read_as_users_type_them() {
        let check = |text: &str, expected: Result<i64, QuantityError>| {
            assert_eq!(parse_quantity(text), expected, "{text:?}");
        };
        check("1", Ok(1000));
        check("1.5", Ok(1500));
        check("0,125", Ok(125));
        check("1 000", Ok(1_000_000));
        check("007.01", Ok(7010));
        check("", Err(QuantityError::Missing));
        check("   ", Err(QuantityError::Missing));
        check("0", Err(QuantityError::NotPositive));
        check("0.000", Err(QuantityError::NotPositive));
        check("-2", Err(QuantityError::NotPositive));
        check("1.2345", Err(QuantityError::Invalid));
        check(".5", Err(QuantityError::Invalid));
        check("1e3", Err(QuantityError::Invalid));
        check("1000000001", Err(QuantityError::Invalid));
        check("99999999999999999999999", Err(QuantityError::Invalid));
        check("١", Err(QuantityError::Invalid));
        check("1000000000", Ok(1_000_000_000_000));
    }

    #[test]
    fn line_amounts_round_half_up_to_the_kopeck_and_overflow_is_none() {
        // 0.5 * 0.01 = 0.005 -> 0.01
        assert_eq!(line_amounts(500, 1, 0, 20), Some((1, 0, 1)));
        // 0.499 * 0.01 = 0.00499 -> 0.00
        assert_eq!(line_amounts(499, 1, 0, 20), Some((0, 0, 0)));
        // 333.33 + 20% = 66.666 -> 66.67
        assert_eq!(
            line_amounts(1000, 33_333, 0, 20),
            Some((33_333, 6_667, 40_000))
        );
        // 2 * 99.99 - 15% = 169.983 -> 169.98; VAT 33.996 -> 34.00
        assert_eq!(
            line_amounts(2000, 9_999, 15, 20),
            Some((16_998, 3_400, 20_398))
        );
        assert_eq!(line_amounts(1000, 10_000, 100, 20), Some((0, 0, 0)));
        assert_eq!(line_amounts(i64::MAX, i64::MAX, 0, 20), None);
        assert_eq!(line_amounts(1_000_000_000_000, i64::MAX, 0, 0), None);
        assert_eq!(round_half_up(-5, 10), Some(-1));
        assert_eq!(round_half_up(i128::MIN, 10), None);
    }

    #[test]
    fn crm_statuses_map_onto_the_process_progression() {
        use voronka_process::DocumentStatus as P;
        let expected = [
            (DocumentStatus::Draft, P::Draft),
            (DocumentStatus::Sent, P::Sent),
            (DocumentStatus::Issued, P::Sent),
            (DocumentStatus::Signed, P::Signed),
            (DocumentStatus::Paid, P::Paid),
            (DocumentStatus::Cancelled, P::Cancelled),
        ];
        for (crm, process) in expected {
            assert_eq!(crm.to_process(), process, "{crm:?}");
            assert_eq!(DocumentStatus::parse(crm.as_str()), Some(crm));
        }
        assert_eq!(DocumentStatus::parse("accepted"), None);
    }
}
