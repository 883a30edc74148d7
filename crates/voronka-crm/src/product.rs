//! The product catalog: what a document's lines may be picked from. Each
//! product is a stream `product-<id>`.
//!
//! A product is never deleted (old documents point at it); it is archived
//! and can be restored. Whether an SKU is already taken is the index's
//! answer (`WorkIndex::product_by_sku`), asked by the application before
//! deciding: a decision sees one stream only.

use serde::{Deserialize, Deserializer, Serialize};
use voronka_core::Money;

use crate::dictionaries::names;
use crate::document::ALLOWED_VAT_RATES;
use crate::{Aggregate, Context, CrmError, FieldError, MoneyInput, ProductId, UserId};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 300;
/// The longest SKU, in characters.
pub const MAX_SKU_CHARS: usize = 64;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5000;

/// A product as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProductRecord {
    #[schema(value_type = String, format = Uuid)]
    pub id: ProductId,
    pub name: String,
    pub sku: Option<String>,
    pub description: Option<String>,
    /// A value of the `product_unit` dictionary.
    pub unit: Option<String>,
    /// VAT-exclusive price of one unit.
    #[schema(value_type = Object)]
    pub price: Money,
    /// Percent: 0, 10 or 20.
    pub vat_rate: u8,
    pub active: bool,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
}

/// A new product as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// A value of the `product_unit` dictionary.
    #[serde(default)]
    pub unit: Option<String>,
    /// VAT-exclusive price of one unit.
    pub price: MoneyInput,
    /// Percent: 0, 10 or 20.
    #[serde(default)]
    pub vat_rate: Option<i64>,
}

/// One field of a partial update: absent leaves it, `null` clears it, a
/// value sets it. Use with `#[serde(default)]` so absence is `Absent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Clear,
    Set(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Clear,
            Some(value) => Patch::Set(value),
        })
    }
}

/// A partial update as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sku: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub unit: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<MoneyInput>)]
    pub price: Patch<MoneyInput>,
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub vat_rate: Patch<i64>,
}

/// What may be done to a product.
#[derive(Debug, Clone)]
pub enum ProductCommand {
    Create { id: ProductId, input: ProductInput },
    Update { patch: ProductPatch },
    Archive,
    Restore,
}

/// A field's value before and after an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change<T> {
    pub old: T,
    pub new: T,
}

/// The fields an update changed (absent ones did not change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Change<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Change<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Change<Money>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_rate: Option<Change<u8>>,
}

impl ProductChanges {
    pub fn is_empty(&self) -> bool {
        *self == ProductChanges::default()
    }
}

/// Everything that happens to a product. The serde tag is the stored event
/// type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProductEvent {
    ProductCreated {
        id: ProductId,
        name: String,
        sku: Option<String>,
        description: Option<String>,
        unit: Option<String>,
        price: Money,
        vat_rate: u8,
        created_by: UserId,
    },
    ProductUpdated {
        changes: ProductChanges,
    },
    ProductArchived {},
    ProductRestored {},
}

/// The product aggregate. Its state is `None` until created.
pub struct Product;

impl Aggregate for Product {
    const CATEGORY: &'static str = "product";
    type State = Option<ProductRecord>;
    type Event = ProductEvent;
    type Command = ProductCommand;

    fn event_type(event: &ProductEvent) -> &'static str {
        match event {
            ProductEvent::ProductCreated { .. } => "product_created",
            ProductEvent::ProductUpdated { .. } => "product_updated",
            ProductEvent::ProductArchived {} => "product_archived",
            ProductEvent::ProductRestored {} => "product_restored",
        }
    }

    fn apply(state: &mut Option<ProductRecord>, event: &ProductEvent) {
        match event {
            ProductEvent::ProductCreated {
                id,
                name,
                sku,
                description,
                unit,
                price,
                vat_rate,
                created_by,
            } => {
                *state = Some(ProductRecord {
                    id: *id,
                    name: name.clone(),
                    sku: sku.clone(),
                    description: description.clone(),
                    unit: unit.clone(),
                    price: *price,
                    vat_rate: *vat_rate,
                    active: true,
                    created_by: *created_by,
                });
            }
            ProductEvent::ProductUpdated { changes } => {
                let Some(record) = state else { return };
                if let Some(change) = &changes.name {
                    record.name = change.new.clone();
                }
                if let Some(change) = &changes.sku {
                    record.sku = change.new.clone();
                }
                if let Some(change) = &changes.description {
                    record.description = change.new.clone();
                }
                if let Some(change) = &changes.unit {
                    record.unit = change.new.clone();
                }
                if let Some(change) = &changes.price {
                    record.price = change.new;
                }
                if let Some(change) = &changes.vat_rate {
                    record.vat_rate = change.new;
                }
            }
            ProductEvent::ProductArchived {} => {
                if let Some(record) = state {
                    record.active = false;
                }
            }
            ProductEvent::ProductRestored {} => {
                if let Some(record) = state {
                    record.active = true;
                }
            }
        }
    }

    fn decide(
        state: &Option<ProductRecord>,
        command: &ProductCommand,
        context: &Context<'_>,
    ) -> Result<Vec<ProductEvent>, CrmError> {
        match command {
            ProductCommand::Create { id, input } => {
                if state.is_some() {
                    return Err(CrmError::AlreadyExists);
                }
                let mut errors = Vec::new();
                let name = required_text(&input.name, "name", MAX_NAME_CHARS, &mut errors);
                let sku = optional_text(&input.sku, "sku", MAX_SKU_CHARS, &mut errors);
                let description = optional_text(
                    &input.description,
                    "description",
                    MAX_DESCRIPTION_CHARS,
                    &mut errors,
                );
                let unit = checked_unit(&input.unit, context, &mut errors);
                let price = checked_price(&input.price, &mut errors);
                let vat_rate = match input.vat_rate {
                    None => {
                        errors.push(FieldError::required("vat_rate"));
                        None
                    }
                    Some(rate) => checked_vat_rate(rate, &mut errors),
                };
                CrmError::check(errors)?;
                let (Some(name), Some(price), Some(vat_rate)) = (name, price, vat_rate) else {
                    return Err(CrmError::Invalid(Vec::new()));
                };
                Ok(vec![ProductEvent::ProductCreated {
                    id: *id,
                    name,
                    sku,
                    description,
                    unit,
                    price,
                    vat_rate,
                    created_by: context.actor,
                }])
            }
            ProductCommand::Update { patch } => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                let changes = patch_changes(record, patch, context)?;
                if changes.is_empty() {
                    return Ok(Vec::new());
                }
                Ok(vec![ProductEvent::ProductUpdated { changes }])
            }
            ProductCommand::Archive => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                Ok(if record.active {
                    vec![ProductEvent::ProductArchived {}]
                } else {
                    Vec::new()
                })
            }
            ProductCommand::Restore => {
                let record = state.as_ref().ok_or(CrmError::NotFound)?;
                Ok(if record.active {
                    Vec::new()
                } else {
                    vec![ProductEvent::ProductRestored {}]
                })
            }
        }
    }
}

/// The changes `patch` makes to `record`, every invalid field reported.
fn patch_changes(
    record: &ProductRecord,
    patch: &ProductPatch,
    context: &Context<'_>,
) -> Result<ProductChanges, CrmError> {
    let mut errors = Vec::new();
    let mut changes = ProductChanges::default();
    match &patch.name {
        Patch::Absent => {}
        Patch::Clear => errors.push(FieldError::required("name")),
        Patch::Set(name) => {
            if let Some(name) = required_text(name, "name", MAX_NAME_CHARS, &mut errors) {
                changes.name = change(&record.name, name);
            }
        }
    }
    if let Some(sku) = patched_text(&patch.sku, &mut errors, |value, errors| {
        optional_text(value, "sku", MAX_SKU_CHARS, errors)
    }) {
        changes.sku = change(&record.sku, sku);
    }
    if let Some(description) = patched_text(&patch.description, &mut errors, |value, errors| {
        optional_text(value, "description", MAX_DESCRIPTION_CHARS, errors)
    }) {
        changes.description = change(&record.description, description);
    }
    if let Some(unit) = patched_text(&patch.unit, &mut errors, |value, errors| {
        checked_unit(value, context, errors)
    }) {
        changes.unit = change(&record.unit, unit);
    }
    match &patch.price {
        Patch::Absent => {}
        Patch::Clear => errors.push(FieldError::required("price")),
        Patch::Set(price) => {
            if let Some(price) = checked_price(price, &mut errors) {
                changes.price = change(&record.price, price);
            }
        }
    }
    match &patch.vat_rate {
        Patch::Absent => {}
        Patch::Clear => errors.push(FieldError::required("vat_rate")),
        Patch::Set(rate) => {
            if let Some(rate) = checked_vat_rate(*rate, &mut errors) {
                changes.vat_rate = change(&record.vat_rate, rate);
            }
        }
    }
    CrmError::check(errors)?;
    Ok(changes)
}

/// An optional text's new value: `None` when absent or invalid (reported by
/// `check`), `Some(None)` when cleared (or set to blank).
fn patched_text(
    value: &Patch<String>,
    errors: &mut Vec<FieldError>,
    check: impl FnOnce(&Option<String>, &mut Vec<FieldError>) -> Option<String>,
) -> Option<Option<String>> {
    match value {
        Patch::Absent => None,
        Patch::Clear => Some(None),
        Patch::Set(text) => {
            let before = errors.len();
            let value = check(&Some(text.clone()), errors);
            (errors.len() == before).then_some(value)
        }
    }
}

fn change<T: Clone + PartialEq>(old: &T, new: T) -> Option<Change<T>> {
    (*old != new).then(|| Change {
        old: old.clone(),
        new,
    })
}

fn checked_unit(
    value: &Option<String>,
    context: &Context<'_>,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let unit = optional_text(value, "unit", MAX_NAME_CHARS, errors)?;
    match context
        .dictionaries
        .check(names::PRODUCT_UNIT, &unit, "unit")
    {
        Ok(()) => Some(unit),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

fn checked_price(input: &MoneyInput, errors: &mut Vec<FieldError>) -> Option<Money> {
    match input.parse("price") {
        Err(error) => {
            errors.push(error);
            None
        }
        Ok(price) if price.minor < 0 => {
            errors.push(FieldError::new(
                "price",
                "negative_price",
                "a price is not negative",
            ));
            None
        }
        Ok(price) => Some(price),
    }
}

fn checked_vat_rate(rate: i64, errors: &mut Vec<FieldError>) -> Option<u8> {
    let rate = u8::try_from(rate)
        .ok()
        .filter(|rate| ALLOWED_VAT_RATES.contains(rate));
    if rate.is_none() {
        errors.push(FieldError::new(
            "vat_rate",
            "vat_rate_not_allowed",
            "the VAT rate is 0, 10 or 20 (percent)",
        ));
    }
    rate
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
    optional_text(&Some(text.to_string()), field, max_chars, errors)
}

fn optional_text(
    value: &Option<String>,
    field: &str,
    max_chars: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let text = value.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    if text.chars().count() > max_chars {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("`{field}` is at most {max_chars} characters"),
        ));
        return None;
    }
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_its_serde_tag() {
        let events = [
            ProductEvent::ProductCreated {
                id: ProductId::from_uuid(uuid::Uuid::from_u128(1)),
                name: "Licence".into(),
                sku: None,
                description: None,
                unit: None,
                price: Money::rub(100),
                vat_rate: 20,
                created_by: UserId::from_uuid(uuid::Uuid::from_u128(2)),
            },
            ProductEvent::ProductUpdated {
                changes: ProductChanges {
                    vat_rate: Some(Change { old: 20, new: 0 }),
                    ..ProductChanges::default()
                },
            },
            ProductEvent::ProductArchived {},
            ProductEvent::ProductRestored {},
        ];
        for event in events {
            let json = serde_json::to_value(&event).unwrap();
            assert_eq!(json["type"], Product::event_type(&event), "{json}");
            let back: ProductEvent = serde_json::from_value(json).unwrap();
            assert_eq!(back, event);
        }
    }

    #[test]
    fn a_patch_tells_absent_from_null_from_a_value() {
        let patch: ProductPatch =
            serde_json::from_str(r#"{"sku": null, "name": "Новое имя"}"#).unwrap();
        assert_eq!(patch.sku, Patch::Clear);
        assert_eq!(patch.name, Patch::Set("Новое имя".to_string()));
        assert_eq!(patch.description, Patch::Absent);
        assert_eq!(patch.price, Patch::Absent);
        assert!(serde_json::from_str::<ProductPatch>(r#"{"colour": "red"}"#).is_err());
    }
}
