/* The recurrent layers' threads: a sequence run as phases of pieces (see rnn_team.c). */
#ifndef FASTNN_RNN_TEAM_H
#define FASTNN_RNN_TEAM_H
#include "../fastnn.h"

/* Does piece `piece` of phase `phase`; reads only what earlier phases wrote. */
typedef void (*rnn_piece_fn)(void *ctx, idx_t phase, idx_t piece);

/* Runs piece(ctx, phase, p) for every phase in [0, phases) in order and every p in [0, pieces), the
   pieces of one phase on up to `threads` threads in any order, each exactly once. */
void rnn_run_phases(int threads, idx_t phases, idx_t pieces, rnn_piece_fn piece, void *ctx);

#endif
