// The /retention page: one click makes a follow-up (or win-back) task for the customer,
// assigned to their owner, due today. Nothing is ever sent to the customer from here.

import { api } from "./api.js";
import { toast } from "./dom.js";
import { pt } from "./archive-texts.js";

for (const button of document.querySelectorAll("button.follow-up")) {
  button.addEventListener("click", async () => {
    const row = button.closest("tr");
    const name = row?.querySelector("a")?.textContent || "";
    const title = button.dataset.kind === "win_back" ? pt("retention_win_back_title", { name }) : pt("retention_follow_up_title", { name });
    button.disabled = true;
    try {
      await api("/api/v1/tasks", {
        method: "POST",
        body: { contact_id: Number(button.dataset.contactId), title, due_at: new Date().toISOString() },
      });
      button.textContent = pt("retention_task_made");
    } catch (err) {
      button.disabled = false;
      toast(pt("error", { detail: err.message }), "error");
    }
  });
}
