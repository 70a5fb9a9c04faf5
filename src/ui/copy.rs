//! The one piece of the console that needs JavaScript: copying a value to the clipboard. Without
//! JavaScript the value stays in a read-only field, ready to select.
use leptos::prelude::*;

/// A read-only field holding `value`, with a button that copies it; the caller labels the field
/// (`<label for=id>`). An island: the browser hydrates only this.
#[island]
pub fn CopyField(value: String, label: String, copied: String, id: String) -> impl IntoView {
    let done = RwSignal::new(false);
    let input_id = id.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let document = leptos::prelude::document();
            if let Some(input) = document
                .get_element_by_id(&input_id)
                .and_then(|e| e.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                input.select();
                let _ = window().navigator().clipboard().write_text(&input.value());
                done.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &input_id;
    };
    view! {
        <span class="copy-field">
            <input id=id type="text" readonly value=value />
            <button type="button" class="button-quiet" on:click=copy>
                {move || if done.get() { copied.clone() } else { label.clone() }}
            </button>
        </span>
    }
}
