/* How far a typed word is from a known one, for "did you mean" suggestions (config keys and
 * sections, --resume's latest and auto). */
#ifndef DK_EDIT_DISTANCE_H
#define DK_EDIT_DISTANCE_H

/* The optimal-string-alignment distance between a and b, ignoring case: insertions,
 * deletions, substitutions, and a swapped pair of neighbours ("widht") as one edit each.
 * INT_MAX when either is 64 characters or longer (no word worth suggesting is). */
int dk_edit_distance(const char *a, const char *b);

#endif
