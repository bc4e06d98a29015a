// raind's web catalog (/ui/): the only script. It follows a running job's
// log (a <pre data-follow=URL data-offset=N>) by streaming the log from
// byte N with follow=1, and appends what comes as text (never as markup).
// Without it the page is complete as sent; a reload shows more.
"use strict";

async function follow(pre) {
	const url = pre.dataset.follow + "?follow=1&offset=" + encodeURIComponent(pre.dataset.offset);
	const state = document.querySelector(".logstate");
	try {
		const resp = await fetch(url, { credentials: "same-origin", cache: "no-store" });
		if (!resp.ok || !resp.body)
			throw new Error("HTTP " + resp.status);
		const reader = resp.body.getReader();
		const dec = new TextDecoder();
		for (;;) {
			const { value, done } = await reader.read();
			if (done)
				break;
			const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
			pre.append(document.createTextNode(dec.decode(value, { stream: true })));
			if (atEnd)
				pre.scrollTop = pre.scrollHeight;
		}
		if (state)
			state.textContent = "The job has finished: reload the page for its final record.";
	} catch (e) {
		if (state)
			state.textContent = "Following the log stopped (" + e.message + "): reload the page.";
	}
}

document.addEventListener("DOMContentLoaded", () => {
	document.querySelectorAll("pre[data-follow]").forEach(follow);
});
