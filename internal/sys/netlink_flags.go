package sys

import "golang.org/x/sys/unix"

// AddrNoDAD is the address flag (IFA_F_NODAD) that makes a new IPv6 address
// usable at once instead of tentative while duplicate address detection runs;
// test hosts set it so their first packets are not dropped.
const AddrNoDAD = unix.IFA_F_NODAD
