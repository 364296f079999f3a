"""Identity verification of enterprises' legal representatives (decision 0019).

An enterprise account may grant authorizations, apply for instant loans and file
objections only once the person behind it has proved to be the entity's legal
representative named in the registry, through a provider chosen by a setting: ``manual``
(ID-card photos reviewed by operators) or ``http`` (a commercial face-verification
service speaking the protocol of ``docs/identity-verification.md``)."""
