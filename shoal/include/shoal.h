/* shoal.h: the guest API of shoal (native calls arrive with later issues). */
#ifndef SHOAL_H
#define SHOAL_H

#define SHOAL_VERSION 1

#endif
