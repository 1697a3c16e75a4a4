/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_kshim_user.h - user-space stand-ins for the few kernel containers the
 * pure-logic files use (struct list_head, struct rb_node), for the unit
 * tests and the fuzzer only.  Written for this project with the kernel's
 * API and semantics as documented in Documentation/core-api/rbtree.rst;
 * no kernel code is copied.
 *
 * The rbtree stand-in is an ordinary (unbalanced) binary search tree
 * behind the same API: rb_link_node() links a leaf, rb_insert_color() is a
 * no-op, rb_erase() unlinks with parent pointers, rb_first()/rb_next()
 * walk in order.  Ordering, iteration and erase behave like the kernel's;
 * balancing (O(log n) depth) is not reproduced, so the tests check
 * behaviour, not depth.  nc_rb_check() verifies the parent links.
 */
#ifndef _NC_KSHIM_USER_H
#define _NC_KSHIM_USER_H

#include <stddef.h>
#include <stdbool.h>

#ifndef container_of
#define container_of(ptr, type, member)					\
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* ---- list_head ---- */

struct list_head {
	struct list_head *next, *prev;
};

#define LIST_HEAD_INIT(name) { &(name), &(name) }

static inline void INIT_LIST_HEAD(struct list_head *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool list_empty(const struct list_head *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = NULL;
	n->prev = NULL;
}

static inline void list_del_init(struct list_head *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	INIT_LIST_HEAD(n);
}

static inline void list_move_tail(struct list_head *n, struct list_head *h)
{
	list_del(n);
	list_add_tail(n, h);
}

/* every entry of list to the end of h; list left empty */
static inline void list_splice_tail_init(struct list_head *list,
					 struct list_head *h)
{
	if (list_empty(list))
		return;
	list->next->prev = h->prev;
	h->prev->next = list->next;
	list->prev->next = h;
	h->prev = list->prev;
	INIT_LIST_HEAD(list);
}

#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)
#define list_first_entry_or_null(h, type, member)			\
	(list_empty(h) ? NULL : list_first_entry(h, type, member))
#define list_next_entry(pos, member)					\
	list_entry((pos)->member.next, __typeof__(*(pos)), member)
#define list_for_each_entry(pos, h, member)				\
	for (pos = list_first_entry(h, __typeof__(*pos), member);	\
	     &pos->member != (h); pos = list_next_entry(pos, member))
#define list_for_each_entry_safe(pos, n, h, member)			\
	for (pos = list_first_entry(h, __typeof__(*pos), member),	\
	     n = list_next_entry(pos, member); &pos->member != (h);	\
	     pos = n, n = list_next_entry(n, member))

/* ---- rbtree (unbalanced stand-in, same API) ---- */

struct rb_node {
	struct rb_node *rb_parent;
	struct rb_node *rb_right;
	struct rb_node *rb_left;
};

struct rb_root {
	struct rb_node *rb_node;
};

#define RB_ROOT ((struct rb_root) { NULL })
#define RB_EMPTY_ROOT(root) ((root)->rb_node == NULL)
#define rb_entry(ptr, type, member) container_of(ptr, type, member)

static inline void rb_link_node(struct rb_node *node, struct rb_node *parent,
				struct rb_node **link)
{
	node->rb_parent = parent;
	node->rb_left = NULL;
	node->rb_right = NULL;
	*link = node;
}

static inline void rb_insert_color(struct rb_node *node, struct rb_root *root)
{
	(void)node;
	(void)root;
}

static inline struct rb_node *nc_rb_min(struct rb_node *n)
{
	while (n && n->rb_left)
		n = n->rb_left;
	return n;
}

static inline struct rb_node *nc_rb_max(struct rb_node *n)
{
	while (n && n->rb_right)
		n = n->rb_right;
	return n;
}

static inline struct rb_node *rb_first(const struct rb_root *root)
{
	return nc_rb_min(root->rb_node);
}

static inline struct rb_node *rb_last(const struct rb_root *root)
{
	return nc_rb_max(root->rb_node);
}

static inline struct rb_node *rb_next(const struct rb_node *n)
{
	const struct rb_node *p;

	if (n->rb_right)
		return nc_rb_min(n->rb_right);
	p = n->rb_parent;
	while (p && n == p->rb_right) {
		n = p;
		p = p->rb_parent;
	}
	return (struct rb_node *)p;
}

static inline void nc_rb_replace_child(struct rb_root *root,
				       struct rb_node *parent,
				       struct rb_node *old, struct rb_node *new)
{
	if (!parent)
		root->rb_node = new;
	else if (parent->rb_left == old)
		parent->rb_left = new;
	else
		parent->rb_right = new;
	if (new)
		new->rb_parent = parent;
}

static inline void rb_erase(struct rb_node *n, struct rb_root *root)
{
	struct rb_node *s;

	if (!n->rb_left) {
		nc_rb_replace_child(root, n->rb_parent, n, n->rb_right);
	} else if (!n->rb_right) {
		nc_rb_replace_child(root, n->rb_parent, n, n->rb_left);
	} else {
		/* successor s: leftmost of the right subtree, no left child */
		s = nc_rb_min(n->rb_right);
		if (s->rb_parent != n) {
			nc_rb_replace_child(root, s->rb_parent, s, s->rb_right);
			s->rb_right = n->rb_right;
			s->rb_right->rb_parent = s;
		}
		nc_rb_replace_child(root, n->rb_parent, n, s);
		s->rb_left = n->rb_left;
		s->rb_left->rb_parent = s;
	}
}

/* Test helper: parent links consistent; returns the number of nodes. */
static inline long nc_rb_check(const struct rb_node *n,
			       const struct rb_node *parent)
{
	long l, r;

	if (!n)
		return 0;
	if (n->rb_parent != parent)
		return -1000000;
	l = nc_rb_check(n->rb_left, n);
	r = nc_rb_check(n->rb_right, n);
	return l + r + 1;
}

#endif /* _NC_KSHIM_USER_H */
