// The blog page: lists every post with its comments from the query service,
// and creates posts and comments through the posts and comments services.
//
// One rule keeps it safe: text that comes from people or from the network
// (titles, comments, error messages) goes on the page only through
// `textContent`, never `innerHTML`. The browser then shows a title like
// <img src=x onerror=alert(1)> as those characters, and never runs it.
//
// TODO 3: two places below break that rule. Find them (search for TODO 3)
// and make them follow it.
"use strict";

(function () {
  // Written by the client service into /config.js. An empty URL means
  // "this page's own origin", where an ingress routes the paths.
  const config = window.BLOG_CONFIG || { postsUrl: "", commentsUrl: "", queryUrl: "" };

  // How often the page asks query for fresh data. Moderation takes a moment,
  // so a new comment first shows as awaiting moderation and changes by itself.
  const REFRESH_EVERY_MS = 1000;

  const postList = document.getElementById("posts");
  const noPosts = document.getElementById("no-posts");
  const loadError = document.getElementById("load-error");
  const postForm = document.getElementById("new-post");

  // One card per post, kept between refreshes so that a comment being typed
  // is not wiped out every second. Post id -> { root, title, count, comments, shown }.
  const cards = new Map();

  function serviceUrl(base, path) {
    return String(base || "").replace(/\/+$/, "") + path;
  }

  // Fetches JSON. On failure throws an Error whose message is fit for people:
  // the service's own `{"error": "..."}` when it sent one.
  async function requestJson(address, options) {
    let response;
    try {
      response = await fetch(address, options);
    } catch (networkError) {
      throw new Error("could not reach " + address + " (is that service running?)");
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (notJson) {
      body = null;
    }
    if (!response.ok) {
      const reason = body && typeof body.error === "string" ? body.error : text.slice(0, 200);
      throw new Error(response.status + " " + (reason || response.statusText));
    }
    return body;
  }

  function element(tag, className) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    return node;
  }

  function showMessage(node, message) {
    node.textContent = message;
    node.hidden = message === "";
  }

  // ANCHOR: comment_item
  // What a reader sees for a comment. Only approved comments show their text.
  function commentText(comment) {
    switch (comment.status) {
      case "approved":
        return String(comment.content);
      case "rejected":
        return "This comment has been rejected";
      default:
        return "This comment is awaiting moderation";
    }
  }

  function commentItem(comment) {
    const known = ["approved", "pending", "rejected"];
    const status = known.includes(comment.status) ? comment.status : "pending";
    const item = element("li", "comment comment-" + status);
    item.dataset.status = status;
    // TODO 3 (1 of 2): this puts the comment on the page as HTML, so a comment
    // like <b>hi</b> becomes bold, and worse. Show it as text instead.
    item.innerHTML = commentText(comment);
    return item;
  }
  // ANCHOR_END: comment_item

  // Sends `body` as JSON with the form's button disabled meanwhile; shows the
  // outcome in the form's error line. Returns true when the service accepted it.
  async function submitJson(form, address, body) {
    const button = form.querySelector("button");
    const error = form.querySelector(".error");
    button.disabled = true;
    try {
      await requestJson(address, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      showMessage(error, "");
      refresh();
      return true;
    } catch (failure) {
      showMessage(error, "Sorry, that did not work: " + failure.message);
      return false;
    } finally {
      button.disabled = false;
    }
  }

  function createCard(postId) {
    const root = element("li", "post");
    root.dataset.postId = postId;
    const title = element("h3");
    const count = element("p", "comment-count");
    const comments = element("ul", "comments");

    const form = element("form", "new-comment");
    form.autocomplete = "off";
    const input = element("input");
    input.type = "text";
    input.name = "content";
    input.placeholder = "Add a comment";
    input.setAttribute("aria-label", "New comment");
    const button = element("button");
    button.type = "submit";
    button.textContent = "Comment";
    const error = element("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    form.append(input, button, error);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const address = serviceUrl(config.commentsUrl, "/posts/" + encodeURIComponent(postId) + "/comments");
      if (await submitJson(form, address, { content: input.value })) {
        input.value = "";
      }
    });

    root.append(title, count, comments, form);
    return { root, title, count, comments, shown: "" };
  }

  // ANCHOR: update_card
  function updateCard(card, post) {
    // Redraw only what changed, so the page does not flicker every second.
    const snapshot = JSON.stringify(post);
    if (snapshot === card.shown) {
      return;
    }
    card.shown = snapshot;
    // TODO 3 (2 of 2): the same for the title, which anyone can choose.
    card.title.innerHTML = String(post.title);
    const comments = Array.isArray(post.comments) ? post.comments : [];
    card.count.textContent = comments.length === 1 ? "1 comment" : comments.length + " comments";
    card.comments.replaceChildren(...comments.map(commentItem));
  }
  // ANCHOR_END: update_card

  // `posts` is query's answer: {"<id>": {"id", "title", "comments"}}, oldest
  // first. (A JavaScript object keeps that order, except for keys that look
  // like small whole numbers, which it lists first; our ids are not like that.)
  function render(posts) {
    const list = Object.values(posts || {});
    showMessage(noPosts, list.length === 0 ? "No posts yet. Create the first one above." : "");
    const present = new Set();
    list.forEach((post, index) => {
      const id = String(post.id);
      present.add(id);
      let card = cards.get(id);
      if (!card) {
        card = createCard(id);
        cards.set(id, card);
      }
      if (postList.children[index] !== card.root) {
        postList.insertBefore(card.root, postList.children[index] || null);
      }
      updateCard(card, post);
    });
    for (const [id, card] of cards) {
      if (!present.has(id)) {
        card.root.remove();
        cards.delete(id);
      }
    }
  }

  // Several refreshes can be in flight (the timer, and one after each form);
  // only the newest answer is drawn, so an old one never undoes a new one.
  let lastAsked = 0;
  let lastDrawn = 0;

  async function refresh() {
    const ticket = ++lastAsked;
    try {
      const posts = await requestJson(serviceUrl(config.queryUrl, "/posts"));
      if (ticket > lastDrawn) {
        lastDrawn = ticket;
        render(posts);
        showMessage(loadError, "");
      }
    } catch (failure) {
      if (ticket > lastDrawn) {
        showMessage(loadError, "Could not load the posts: " + failure.message + ". Trying again…");
      }
    }
  }

  async function keepRefreshing() {
    await refresh();
    setTimeout(keepRefreshing, REFRESH_EVERY_MS);
  }

  postForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = postForm.elements.namedItem("title");
    if (await submitJson(postForm, serviceUrl(config.postsUrl, "/posts/create"), { title: input.value })) {
      input.value = "";
    }
  });

  keepRefreshing();
})();
