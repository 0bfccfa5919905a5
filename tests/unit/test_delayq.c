/* Unit tests of the due-ordered queue (daemon/delayq.c) on a real libuv
 * loop: items fire in due order, once, and a removed one never. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delayq.h"

struct item {
	int id;
	struct delayq_item it;
};

static int fired[16], nfired;
static struct delayq *Q;

static void on_fire(struct delayq_item *it)
{
	struct item *x = container_of(it, struct item, it);

	assert_false(it->queued);
	fired[nfired++] = x->id;
	if (x->id == 3) /* queued again from its callback, due now: fires again at once */
		delayq_add(Q, it, 0), x->id = 30;
}

static void test_due_order_and_removal(void **state)
{
	uv_loop_t loop;
	struct delayq q;
	struct item items[5] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}, {5, {0}}};
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	delayq_init(&q, &loop, on_fire);
	Q = &q;
	delayq_add(&q, &items[0].it, 30);
	delayq_add(&q, &items[1].it, 10);
	delayq_add(&q, &items[2].it, 20);
	delayq_add(&q, &items[3].it, 10);   /* same due time: after item 2 */
	delayq_add(&q, &items[4].it, 15);
	assert_true(items[4].it.queued);
	delayq_remove(&q, &items[4].it);
	assert_false(items[4].it.queued);
	delayq_remove(&q, &items[4].it);    /* twice is harmless */
	uv_run(&loop, UV_RUN_DEFAULT);      /* returns once nothing is queued */
	int want[] = {2, 4, 3, 30, 1};
	assert_int_equal(nfired, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(fired[i], want[i]);

	/* pop takes the first, due or not, and leaves the queue consistent. */
	nfired = 0;
	delayq_add(&q, &items[0].it, 100000);
	delayq_add(&q, &items[1].it, 50000);
	assert_ptr_equal(delayq_pop(&q), &items[1].it);
	assert_ptr_equal(delayq_pop(&q), &items[0].it);
	assert_null(delayq_pop(&q));

	/* within: brings a later item forward, never pushes a sooner one back. */
	delayq_add(&q, &items[0].it, 100000);
	delayq_within(&q, &items[0].it, 50000);
	uint64_t due = items[0].it.due;
	assert_true(due <= uv_now(&loop) + 50000);
	delayq_within(&q, &items[0].it, 90000);
	assert_int_equal(items[0].it.due, due);
	delayq_within(&q, &items[1].it, 70000);      /* not queued: queued now */
	assert_true(items[1].it.queued);
	assert_ptr_equal(delayq_pop(&q), &items[0].it);
	assert_ptr_equal(delayq_pop(&q), &items[1].it);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(nfired, 0);
	delayq_close(&q);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due_order_and_removal),
	};
	return cmocka_run_group_tests_name("delayq", tests, NULL, NULL);
}
