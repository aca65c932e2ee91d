//! PKCS#1 v1.5 encryption padding (type 2) removed in constant time, for the RSA backends that
//! return the raw decryption (crypto_mb). It accepts exactly what OpenSSL 3.0's
//! `RSA_padding_check_PKCS1_type_2` accepts — `00 02`, at least eight non-zero bytes, `00`, the
//! message — and follows the same discipline: no branch and no memory access depends on a secret
//! byte; the work is the same for every input of a given size. Only the final verdict, and the
//! message length on success, leave this function (as with OpenSSL).

/// All ones when `a == b`, else zero (no branch).
fn eq_mask(a: u32, b: u32) -> u32 {
    let x = a ^ b;
    // For x below 2^31, x | -x has its top bit set exactly when x is not zero.
    let nonzero = (x | x.wrapping_neg()) >> 31;
    nonzero.wrapping_sub(1)
}

/// All ones when `a < b` (both below 2^31), else zero.
fn lt_mask(a: u32, b: u32) -> u32 {
    (a.wrapping_sub(b) >> 31).wrapping_neg()
}

/// Selects `a` where `mask` is all ones, `b` where it is zero.
fn select(mask: u32, a: u32, b: u32) -> u32 {
    (mask & a) | (!mask & b)
}

/// The message inside `em` (the raw decryption, as long as the modulus), moved to the start of
/// `em`; returns its length, or None when the padding is not PKCS#1 v1.5 type 2.
pub fn unpad_in_place(em: &mut [u8]) -> Option<usize> {
    let num = em.len() as u32;
    if num < 11 {
        return None;
    }
    let mut good = eq_mask(u32::from(em[0]), 0) & eq_mask(u32::from(em[1]), 2);
    // The first zero after the two header bytes: its index, found with a full scan.
    let mut found = 0u32;
    let mut zero_index = 0u32;
    for (i, &b) in em.iter().enumerate().skip(2) {
        let is_zero = eq_mask(u32::from(b), 0);
        zero_index = select(!found & is_zero, i as u32, zero_index);
        found |= is_zero;
    }
    good &= found;
    // At least eight bytes of padding: the zero is at index 10 or later.
    good &= !lt_mask(zero_index, 2 + 8);
    let msg_index = zero_index.wrapping_add(1);
    let mlen = num.wrapping_sub(msg_index);
    // Move the message to the front by shifting left `msg_index` bytes, one bit of the shift at a
    // time, every byte touched at every step (O(n log n), no secret-dependent address).
    let shift = select(good, msg_index, 0);
    let mut step = 1usize;
    while step < em.len() {
        let bit = eq_mask((shift & step as u32) >> step.trailing_zeros(), 1);
        for i in 0..em.len() {
            let from = if i + step < em.len() { em[i + step] } else { 0 };
            em[i] = select(bit, u32::from(from), u32::from(em[i])) as u8;
        }
        step <<= 1;
    }
    if good == u32::MAX {
        Some(mlen as usize)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(ps: usize, msg: &[u8], total: usize) -> Vec<u8> {
        let mut em = vec![0u8, 2];
        em.extend(std::iter::repeat_n(0x5a, ps));
        em.push(0);
        em.extend_from_slice(msg);
        em.resize(total, 0x77);
        em
    }

    #[test]
    fn a_well_formed_block_gives_its_message() {
        let msg = b"0123456789abcdefABCDEFGHIJ+/=xyz";
        let mut em = padded(256 - 3 - msg.len(), msg, 256);
        assert_eq!(unpad_in_place(&mut em), Some(msg.len()));
        assert_eq!(&em[..msg.len()], msg);
        // An empty message is well formed too (as in OpenSSL).
        let mut em = padded(253, b"", 256);
        assert_eq!(unpad_in_place(&mut em), Some(0));
    }

    #[test]
    fn every_malformation_is_refused() {
        let msg = b"hello";
        let good = padded(256 - 3 - msg.len(), msg, 256);
        let mut bad_first = good.clone();
        bad_first[0] = 1;
        let mut bad_type = good.clone();
        bad_type[1] = 1;
        let mut no_zero = good.clone();
        let sep = 256 - msg.len() - 1;
        no_zero[sep] = 0x11;
        let mut short_ps = vec![0u8, 2, 1, 2, 3, 4, 5, 6, 7, 0];
        short_ps.resize(256, 0x41);
        for (name, mut em) in [
            ("first byte", bad_first),
            ("block type", bad_type),
            ("no separator", no_zero),
            ("seven bytes of padding", short_ps),
        ] {
            assert_eq!(unpad_in_place(&mut em), None, "{name}");
        }
        // Eight bytes of padding is the minimum that passes.
        let mut em = vec![0u8, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0];
        em.resize(256, 0x41);
        assert_eq!(unpad_in_place(&mut em), Some(256 - 11));
    }
}
