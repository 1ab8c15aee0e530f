/*  test_daemon.c - the start-up helpers shared by the daemons: which
    endpoints count as local (the agent's API and events, the broker's
    admin socket must never reach the network).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/daemon.h"

static void s_test_local_endpoints(void **state)
{
    (void) state;
    static const char *const local[] = {
        "ipc:///var/lib/truc-agent/api.sock",
        "ipc://relative/admin.sock",
        "ipc://@abstract",
        "tcp://127.0.0.1:7401",
        "tcp://127.0.0.1:*",
        "tcp://127.1.2.3:1",
        "tcp://[::1]:7401",
        "tcp://[::1]:*",
    };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        assert_true(proto_endpoint_is_local(local[i]));
}

static void s_test_network_endpoints(void **state)
{
    (void) state;
    static const char *const remote[] = {
        NULL,
        "",
        "ipc://",
        "tcp://0.0.0.0:7401",
        "tcp://*:7401",
        "tcp://10.0.0.1:7401",
        "tcp://128.0.0.1:7401",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:",
        "tcp://127.0.0.1:80x",
        "tcp://127.0.0.1.example.org:7401",
        "tcp://127.0.0.256:7401",
        "tcp://127.0.0.01:7401",
        "tcp://127.0.0:7401",
        "tcp://127.0.0.1;10.0.0.1:7401",
        "tcp://localhost:7401",
        "tcp://lo:7401",
        "tcp://eth0:7401",
        "tcp://[::]:7401",
        "tcp://[::ffff:127.0.0.1]:7401",
        "tcp://[::1]",
        "ws://127.0.0.1:7401",
        "pgm://127.0.0.1:7401",
        "inproc://x",
    };
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        assert_false(proto_endpoint_is_local(remote[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_local_endpoints),
        cmocka_unit_test(s_test_network_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
