/* Interrupting a training run: the first SIGINT or SIGTERM asks the trainer
 * to stop at the next step boundary with a checkpoint; a second one, for a
 * user who cannot wait for that, takes the default action. */
#include <signal.h>
#include <unistd.h>
#include "cli.h"

volatile sig_atomic_t cli_stop_signal;

static void on_signal(int sig)
{
    static const char msg[] = "\ntimelayers: interrupted: finishing the step and saving the "
                              "checkpoint (signal again to abort at once)\n";
    if (cli_stop_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    cli_stop_signal = sig;
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

void cli_catch_stop_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void cli_release_stop_signals(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}
